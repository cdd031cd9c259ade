import { InvalidOptionError } from "../../../core/errors.js";
import { knownKeys, nonEmptyString, positiveInteger } from "../../../core/validate.js";
import { type Backoff, ExponentialBackoff } from "../../../utils/backoff.js";

/** `retry` in an AMQP route: failed messages wait on the broker, then come back. */
export interface RetryOptions {
  /**
   * How many times the handler may receive a message in all: the first delivery plus its retries.
   * The failure that reaches this number sends the message to the dead-letter queue.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * The delay before each retry, asked with the number of failures so far (1 after the first).
   * Any object with `get(attempt): ms` works; see `ConstantBackoff`, `LinearBackoff`,
   * `ExponentialBackoff`. Delays are rounded to two significant digits (one delay queue each).
   * @defaultValue `new ExponentialBackoff()`: 1 min, 2.7 min, 10.7 min, 42.7 min, then 1 h
   */
  backoff?: Backoff;
}

/** `deadLetter` in an AMQP route: where messages go that must not (or can no longer) be retried. */
export interface DeadLetterOptions {
  /**
   * The dead-letter queue (durable, declared by weir). One queue for all the route's queues when
   * set; each dead letter records its original queue in `x-weir-original-queue`.
   * @defaultValue `<queue>.dlq` for each of the route's queues
   */
  queue?: string;
}

export interface ResolvedRetry {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
}

export interface ResolvedDeadLetter {
  /** The route-wide dead-letter queue, or undefined for `<queue>.dlq` per queue. */
  readonly queue: string | undefined;
}

export const DLQ_SUFFIX = ".dlq";

/** The dead-letter queue of `queue` under `deadLetter` (or the default when there is none). */
export function deadLetterQueueOf(queue: string, deadLetter: ResolvedDeadLetter | undefined): string {
  return deadLetter?.queue ?? `${queue}${DLQ_SUFFIX}`;
}

export function normalizeRetry(value: unknown): ResolvedRetry | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(
      "retry",
      `must be an object like { maxAttempts, backoff }, got ${String(value)}`,
    );
  }
  const given = value as RetryOptions;
  knownKeys("retry", given, ["maxAttempts", "backoff"]);
  const backoff = given.backoff ?? new ExponentialBackoff();
  if (typeof backoff !== "object" || backoff === null || typeof backoff.get !== "function") {
    throw new InvalidOptionError("retry.backoff", "must have a get(attempt) method returning milliseconds");
  }
  return { maxAttempts: positiveInteger("retry.maxAttempts", given.maxAttempts, 5), backoff };
}

/**
 * A route gets a dead-letter queue when it says `deadLetter` (true or an object) or has `retry`;
 * `deadLetter: false` turns it off (exhausted messages are then rejected without requeue).
 */
export function normalizeDeadLetter(value: unknown, hasRetry: boolean): ResolvedDeadLetter | undefined {
  if (value === undefined) return hasRetry ? { queue: undefined } : undefined;
  if (value === false) return undefined;
  if (value === true) return { queue: undefined };
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError("deadLetter", `must be a boolean or { queue? }, got ${String(value)}`);
  }
  knownKeys("deadLetter", value, ["queue"]);
  const queue = (value as DeadLetterOptions).queue;
  return { queue: queue === undefined ? undefined : nonEmptyString("deadLetter.queue", queue) };
}
