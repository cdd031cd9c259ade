/**
 * The names users write in route definitions. Each enum's values are the plain option keys and
 * action names, so `{ [Options.BULK_SIZE]: 100 }` and `{ bulkSize: 100 }` are the same object.
 */

/**
 * The built-in route types. A transport plugin brings its own type (see `RouteKinds`); `RouteType`
 * is every type registered.
 */
export const RouteTypes = {
  AMQP: "amqp",
  HTTP: "http",
  SSE: "sse",
  REDIS: "redis",
  NATS: "nats",
  SQS: "sqs",
} as const;
export type { RouteType } from "./route-kinds.js";

/** Keys of a route's `options` object. */
export const Options = {
  BULK_SIZE: "bulkSize",
  BULK_FLUSH_INTERVAL: "bulkFlushInterval",
  CONCURRENCY: "concurrency",
  TIMEOUT: "timeout",
} as const;
export type OptionName = (typeof Options)[keyof typeof Options];

/** The handler outcomes a route can attach an action to. */
export const Events = {
  ON_SUCCESS: "onSuccess",
  ON_EXCEPTION: "onException",
} as const;
export type EventName = (typeof Events)[keyof typeof Events];

/** What weir does with a message once its handler has run. */
export const Actions = {
  /** Acknowledge: the broker forgets the message. */
  ACK: "ack",
  /** Reject without requeue: the broker drops it, or dead-letters it when the queue has a DLX. */
  REJECT: "reject",
  /** Reject with requeue: the broker delivers it again, flagged `redelivered`. */
  REQUEUE: "requeue",
} as const;
export type Action = (typeof Actions)[keyof typeof Actions];

const ACTION_VALUES: ReadonlySet<string> = new Set(Object.values(Actions));

export function isAction(value: unknown): value is Action {
  return typeof value === "string" && ACTION_VALUES.has(value);
}
