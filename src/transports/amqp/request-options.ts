import { InvalidOptionError } from "../../core/errors.js";
import { checkPublishOptions } from "./publish-options.js";

/** Where and how to send a request (`app.amqp.request(body, options)`). */
export interface RequestOptions {
  /** The routing key; with the default exchange, the queue of the serving route. */
  routingKey: string;
  /**
   * The exchange; `""` is the default exchange, which routes by queue name.
   * @defaultValue ""
   */
  exchange?: string;
  /**
   * How long to wait for the reply (ms), from the call: the connection, a broker alarm, the
   * server's queue and handler all count. The request's `expiration` is set to it as well, so a
   * request nobody took in time expires on its queue instead of being worked on for nobody.
   * @defaultValue the app's `amqp.publishTimeout` (10000)
   */
  timeout?: number;
  /** Message headers, as for `publish` (docs/amqp.md, "Headers"). */
  headers?: Record<string, unknown>;
  /**
   * The vhost to send on.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * The AMQP `message-id` property (a route's `once` deduplicates on it).
   * @defaultValue a random UUID
   */
  messageId?: string;
  /**
   * Content type. Objects are always sent as JSON.
   * @defaultValue "application/json" for objects, "application/octet-stream" for Buffers
   */
  contentType?: string;
  /** Message priority (queues declared with `x-max-priority`), an integer 0–255. */
  priority?: number;
}

const REQUEST_OPTION_KEYS: readonly string[] = [
  "routingKey",
  "exchange",
  "timeout",
  "headers",
  "vhost",
  "messageId",
  "contentType",
  "priority",
];

/**
 * Refuses unknown keys and values weir reads, with `WEIR_ERR_INVALID_OPTION` naming the option
 * (`request.timeout`, ...): the publish checks, over the request's own keys, and a `routingKey`.
 */
export function checkRequestOptions(options: RequestOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("request", "needs options with at least a routingKey");
  }
  checkPublishOptions(options, "request", REQUEST_OPTION_KEYS);
  if (typeof options.routingKey !== "string") {
    throw new InvalidOptionError("request.routingKey", `must be a string, got ${String(options.routingKey)}`);
  }
}
