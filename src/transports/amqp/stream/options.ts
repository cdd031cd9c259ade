import { Actions } from "../../../core/constants.js";
import { InvalidOptionError } from "../../../core/errors.js";
import type { RouteRecord } from "../../../core/transport.js";
import { knownKeys } from "../../../core/validate.js";

/**
 * Where a stream route starts reading when no offset of its consumer is stored yet (RabbitMQ's
 * `x-stream-offset` consumer argument, https://www.rabbitmq.com/docs/streams):
 * - `"first"`: the oldest message the stream still holds;
 * - `"last"`: the last chunk of the stream (RabbitMQ stores messages in chunks, so this can be a
 *   few messages before the newest one);
 * - `"next"`: only messages published after the consumer attached;
 * - a number: that absolute offset (an integer >= 0; offsets start at 0 and grow by one per message);
 * - a `Date`: the first chunk stored at or after that time (chunk-granular: a few earlier messages
 *   of the same chunk may come too; whole seconds on the wire).
 */
export type StreamOffset = "first" | "last" | "next" | number | Date;

/** A route over a RabbitMQ stream queue (`stream` in the route definition). */
export interface StreamOptions {
  /**
   * Where to start when no offset of this consumer is stored. A stored offset always wins: a
   * consumer that committed once resumes after its last committed message, whatever this says.
   * @defaultValue "next"
   */
  offset?: StreamOffset;
  /**
   * The consumer's name: the key of its stored offset, stable across restarts and shared by the
   * instances of one app (they resume from the same offset). Letters, digits, `.`, `-`, `_`, 1-100
   * characters.
   * @defaultValue `<app name>.<stream queue>` (characters outside that set replaced by `-`)
   */
  consumer?: string;
}

/** `stream` with its defaults applied. */
export interface ResolvedStream {
  readonly offset: StreamOffset;
  readonly consumer: string;
  /** Where its offset is stored: `<stream>.weir-offsets.<consumer>` (a durable quorum queue). */
  readonly offsetQueue: string;
}

const CONSUMER_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** The queue holding a stream consumer's committed offset. */
export function offsetQueueOf(stream: string, consumer: string): string {
  return `${stream}.weir-offsets.${consumer}`;
}

function offsetOption(value: unknown): StreamOffset {
  if (value === undefined) return "next";
  if (value === "first" || value === "last" || value === "next") return value;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  throw new InvalidOptionError(
    "stream.offset",
    `must be "first", "last", "next", an integer offset >= 0 or a valid Date, got ${String(value)}`,
  );
}

/** `"first"`, `"last"`, `"next"`, the number, or the Date as an ISO string: for logs, `weir routes`. */
export function offsetText(offset: StreamOffset): string | number {
  return offset instanceof Date ? offset.toISOString() : offset;
}

/**
 * Checks a stream route's options (`stream`) against the rest of the route, once, at registration.
 * A stream keeps every message whatever the consumer answers: acks only give credit, and a reject
 * or a requeue closes the whole connection. So what would need one is refused with a coded
 * `InvalidOptionError` (`WEIR_ERR_INVALID_OPTION`) naming the option: `retry` (a retry would
 * publish the message again, into the stream every consumer reads), `deadLetter`, `onException` or
 * `onSuccess` other than "ack", `broadcast`, `consumer.singleActiveConsumer`, and more than one queue.
 */
export function normalizeStream(
  spec: {
    stream?: StreamOptions;
    retry?: unknown;
    deadLetter?: unknown;
    broadcast?: unknown;
    options?: { onException?: unknown; onSuccess?: unknown };
  },
  record: RouteRecord,
  appName: string,
): ResolvedStream | undefined {
  const given = spec.stream;
  if (given === undefined) return undefined;
  if (given === null || typeof given !== "object") {
    throw new InvalidOptionError(
      "stream",
      'must be an object, e.g. { offset: "first", consumer: "billing" }',
    );
  }
  knownKeys("stream", given, ["offset", "consumer"]);
  if (record.routes.length !== 1) {
    throw new InvalidOptionError(
      "stream",
      "a stream route reads one stream queue (its offset is kept per stream); register one route per stream",
    );
  }
  for (const key of ["retry", "deadLetter", "broadcast"] as const) {
    if (spec[key] !== undefined && spec[key] !== false) {
      throw new InvalidOptionError(
        key,
        key === "broadcast"
          ? "not with stream: every consumer of a stream already sees every message"
          : "not on a stream route: a stream keeps every message and cannot take a reject, and a retry would publish the message again into the stream every consumer reads; a failed bulk is logged and not redelivered (docs/amqp.md, Streams)",
      );
    }
  }
  if ((spec as { consumer?: { singleActiveConsumer?: unknown } }).consumer?.singleActiveConsumer === true) {
    throw new InvalidOptionError(
      "consumer.singleActiveConsumer",
      "not on a stream route: RabbitMQ's single active consumer for streams needs its stream protocol, not AMQP 0-9-1",
    );
  }
  for (const key of ["onException", "onSuccess"] as const) {
    const action = spec.options?.[key];
    if (action !== undefined && action !== Actions.ACK) {
      throw new InvalidOptionError(
        `options.${key}`,
        `a stream route only acks (a stream refuses reject and requeue by closing the connection, and keeps its messages anyway); remove it or use "ack"`,
      );
    }
  }
  const stream = record.routes[0] ?? "";
  // The default is made of the app name with anything outside the allowed set replaced by "-".
  const consumer = given.consumer ?? `${appName.replace(/[^A-Za-z0-9._-]/g, "-")}.${stream}`.slice(0, 100);
  if (typeof consumer !== "string" || !CONSUMER_NAME.test(consumer)) {
    throw new InvalidOptionError(
      "stream.consumer",
      `must be 1-100 letters, digits, ".", "-" or "_", got ${JSON.stringify(consumer)}`,
    );
  }
  return { offset: offsetOption(given.offset), consumer, offsetQueue: offsetQueueOf(stream, consumer) };
}
