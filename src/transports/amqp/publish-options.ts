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
  /**
   * The AMQP `message-id` property: what a route's `once` dedups on, and what a consumer can use to
   * recognise a copy it has seen (a publish retried after `WEIR_ERR_PUBLISH_UNCONFIRMED`).
   * @defaultValue a new random UUID per publish (`crypto.randomUUID()`), so every message weir
   * publishes has one; pass your own to make a publish retried by your code dedupable
   */
  messageId?: string;
  /** The AMQP `correlation-id` property. */
  correlationId?: string;
  /**
   * Content type. Objects are always sent as JSON.
   * @defaultValue "application/json" for objects, "application/octet-stream" for Buffers
   */
  contentType?: string;
  /**
   * Per-message TTL in ms, a whole number >= 0 (sent as the AMQP `expiration` property, a string of
   * digits): a message still in a queue that long after it arrived is dropped, or dead-lettered by
   * the queue's dead-letter exchange (https://www.rabbitmq.com/docs/ttl). RabbitMQ expires messages
   * only from the head of a queue; 0 means "deliver now or never". Anything else throws
   * `WEIR_ERR_INVALID_OPTION` (`publish.expiration`).
   * @defaultValue none: the message never expires (unless its queue has `x-message-ttl`)
   */
  expiration?: number;
  /**
   * Message priority, a whole number from 0 to 255; honoured only by a queue declared with
   * `x-max-priority` (RabbitMQ advises at most 10), which delivers higher ones first. Anything
   * else throws `WEIR_ERR_INVALID_OPTION` (`publish.priority`).
   * @defaultValue none (a priority queue treats it as 0)
   */
  priority?: number;
  /**
   * The AMQP `timestamp` property: a `Date`, or ms since the epoch. AMQP carries whole seconds, so
   * the milliseconds are dropped (a consumer reads `m.properties.timestamp` in seconds). A value
   * before 1970, not finite, or an invalid Date throws `WEIR_ERR_INVALID_OPTION`
   * (`publish.timestamp`).
   * @defaultValue the time of the publish
   */
  timestamp?: Date | number;
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
  "timestamp",
  "timeout",
];

/**
 * Refuses unknown keys (`{ mandatroy: false }` would otherwise publish with the default) and the
 * values weir itself reads, with `WEIR_ERR_INVALID_OPTION` naming the option as `<where>.<key>`.
 * Runs per publish; allocates nothing when the options are valid.
 */
export function checkPublishOptions(
  options: PublishOptions,
  where = "publish",
  keys: readonly string[] = PUBLISH_OPTION_KEYS,
): void {
  knownKeys(where, options, keys);
  const { mandatory, timeout, priority, expiration, timestamp } = options;
  if (mandatory !== undefined && typeof mandatory !== "boolean") {
    throw new InvalidOptionError(`${where}.mandatory`, `must be a boolean, got ${String(mandatory)}`);
  }
  if (timeout !== undefined && (typeof timeout !== "number" || !(timeout > 0) || !Number.isFinite(timeout))) {
    throw new InvalidOptionError(
      `${where}.timeout`,
      `must be a number of milliseconds > 0, got ${String(timeout)}`,
    );
  }
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 255)) {
    throw new InvalidOptionError(
      `${where}.priority`,
      `must be an integer from 0 to 255, got ${String(priority)}`,
    );
  }
  if (expiration !== undefined && !(Number.isSafeInteger(expiration) && expiration >= 0)) {
    throw new InvalidOptionError(
      `${where}.expiration`,
      `must be a whole number of milliseconds >= 0, got ${String(expiration)}`,
    );
  }
  if (timestamp !== undefined && !(timestampMs(timestamp) >= 0)) {
    throw new InvalidOptionError(
      `${where}.timestamp`,
      `must be a valid Date or a number of ms since 1970, got ${String(timestamp)}`,
    );
  }
}

/** ms since the epoch of a `timestamp` option; NaN for anything that is not a time. */
function timestampMs(value: unknown): number {
  if (typeof value === "number") return Number.isFinite(value) ? value : Number.NaN;
  if (value instanceof Date) return value.getTime();
  return Number.NaN;
}

/**
 * The AMQP `timestamp` property (whole seconds since the epoch) of a publish: its `timestamp`
 * option (checked by `checkPublishOptions`), else now.
 */
export function amqpTimestamp(timestamp: Date | number | undefined): number {
  const ms = timestamp === undefined ? Date.now() : timestampMs(timestamp);
  return Math.floor(ms / 1000);
}

/** Encodes a body: Buffers go as they are, anything else as JSON. */
export function encodeBody(
  body: unknown,
  contentType: string | undefined,
): { content: Buffer; contentType: string } {
  if (Buffer.isBuffer(body)) return { content: body, contentType: contentType ?? "application/octet-stream" };
  return { content: Buffer.from(JSON.stringify(body)), contentType: contentType ?? "application/json" };
}
