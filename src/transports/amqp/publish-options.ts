import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys } from "../../core/validate.js";

/** What to publish and where (`app.amqp.publish(body, options)`). */
export interface PublishOptions {
  /**
   * The routing key; with the default exchange, the queue name.
   * @defaultValue ""
   */
  routingKey?: string;
  /**
   * The exchange; `""` is the default exchange, which routes by queue name.
   * @defaultValue ""
   */
  exchange?: string;
  /**
   * The vhost to publish on.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Message headers. A `Date` travels as an AMQP timestamp (whole seconds), a `bigint` as a signed
   * 64-bit long, nested objects and arrays as tables and arrays (docs/amqp.md, "Headers"); a value
   * that cannot travel unchanged rejects the publish with a `HeaderValueError`
   * (`WEIR_ERR_PUBLISH_HEADER`) before anything is sent.
   */
  headers?: Record<string, unknown>;
  /**
   * Ask the broker to write the message to disk (delivery mode 2).
   * @defaultValue true
   */
  persistent?: boolean;
  /**
   * Whether the message must reach a queue. With `true` the broker returns a message no queue is
   * bound for (AMQP 0-9-1 `mandatory`, basic.return) and the publish rejects with
   * `WEIR_ERR_PUBLISH_UNROUTABLE`; with `false` the broker drops it and confirms it anyway, and the
   * publish resolves.
   * @defaultValue true
   */
  mandatory?: boolean;
  /** The AMQP `message-id` property (used by `once` dedup when present). */
  messageId?: string;
  /** The AMQP `correlation-id` property. */
  correlationId?: string;
  /**
   * Content type. Objects are always sent as JSON.
   * @defaultValue "application/json" for objects, "application/octet-stream" for Buffers
   */
  contentType?: string;
  /** Per-message TTL in ms. */
  expiration?: number;
  /** Message priority (queues declared with `x-max-priority`). */
  priority?: number;
  /**
   * How long the publish may take in all (ms): waiting for a connection, for the end of a broker
   * alarm, for room in the publish buffer, then for the broker's confirm.
   * @defaultValue the app's `amqp.publishTimeout` (10000)
   */
  timeout?: number;
}

/** Every key of `PublishOptions`, to refuse a misspelled one. */
export const PUBLISH_OPTION_KEYS: readonly string[] = [
  "routingKey",
  "exchange",
  "vhost",
  "headers",
  "persistent",
  "mandatory",
  "messageId",
  "correlationId",
  "contentType",
  "expiration",
  "priority",
  "timeout",
];

/**
 * Refuses unknown keys (`{ mandatroy: false }` would otherwise publish with the default) and the
 * values weir itself reads, with `WEIR_ERR_INVALID_OPTION` naming the option. Runs per publish;
 * allocates nothing when the options are valid.
 */
export function checkPublishOptions(options: PublishOptions): void {
  knownKeys("publish", options, PUBLISH_OPTION_KEYS);
  const { mandatory, timeout } = options;
  if (mandatory !== undefined && typeof mandatory !== "boolean") {
    throw new InvalidOptionError("publish.mandatory", `must be a boolean, got ${String(mandatory)}`);
  }
  if (timeout !== undefined && (typeof timeout !== "number" || !(timeout > 0) || !Number.isFinite(timeout))) {
    throw new InvalidOptionError(
      "publish.timeout",
      `must be a number of milliseconds > 0, got ${String(timeout)}`,
    );
  }
}

/** Encodes a body: Buffers go as they are, anything else as JSON. */
export function encodeBody(
  body: unknown,
  contentType: string | undefined,
): { content: Buffer; contentType: string } {
  if (Buffer.isBuffer(body)) return { content: body, contentType: contentType ?? "application/octet-stream" };
  return { content: Buffer.from(JSON.stringify(body)), contentType: contentType ?? "application/json" };
}
