import { InvalidOptionError } from "../../../core/errors.js";
import { knownKeys, nonEmptyString, positiveInteger } from "../../../core/validate.js";
import { type Backoff, ExponentialBackoff } from "../../../utils/backoff.js";
import { QUEUE_TYPES, type QueueType } from "../queue-type.js";

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
  /**
   * The type of the delay queues weir declares: `"quorum"` replicates a waiting retry like the
   * message it was (it survives the loss of a node), named `<queue>.retry.<ms>.quorum` (declared
   * with `x-dead-letter-strategy: at-least-once` and `x-overflow: reject-publish`, so the broker
   * keeps the message until its queue took it back); `"classic"` is `<queue>.retry.<ms>`.
   * See docs/retries.md, "Quorum queues".
   * @defaultValue `"quorum"` when the route declares its queues with `x-queue-type: quorum`, else `"classic"`
   */
  queueType?: QueueType;
}

/** `deadLetter` in an AMQP route: where messages go that must not (or can no longer) be retried. */
export interface DeadLetterOptions {
  /**
   * The dead-letter queue (durable, declared by weir). One queue for all the route's queues when
   * set; each dead letter records its original queue in `x-weir-original-queue`.
   * @defaultValue `<queue>.dlq` for each of the route's queues
   */
  queue?: string;
  /**
   * The type weir declares the dead-letter queue with (`x-queue-type`). A dead-letter queue that
   * already exists with other arguments (another type) is used as it is, and logged.
   * @defaultValue `"quorum"` when the route declares its queues with `x-queue-type: quorum`, else `"classic"`
   */
  queueType?: QueueType;
}

export interface ResolvedRetry {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  /** The type of the delay queues. */
  readonly queueType: QueueType;
}

export interface ResolvedDeadLetter {
  /** The route-wide dead-letter queue, or undefined for `<queue>.dlq` per queue. */
  readonly queue: string | undefined;
  /** The type the dead-letter queue is declared with. */
  readonly queueType: QueueType;
}

export const DLQ_SUFFIX = ".dlq";

/** The dead-letter queue of `queue` under `deadLetter` (or the default when there is none). */
export function deadLetterQueueOf(queue: string, deadLetter: ResolvedDeadLetter | undefined): string {
  return deadLetter?.queue ?? `${queue}${DLQ_SUFFIX}`;
}

function queueTypeOption(option: string, value: unknown, fallback: QueueType): QueueType {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !(QUEUE_TYPES as readonly string[]).includes(value)) {
    throw new InvalidOptionError(option, `must be "classic" or "quorum", got ${JSON.stringify(value)}`);
  }
  return value as QueueType;
}

/**
 * `retry` with its defaults; `sourceType` is the type the route declares its queues with
 * ("classic" when it does not declare them), the default of `queueType`.
 */
export function normalizeRetry(value: unknown, sourceType: QueueType = "classic"): ResolvedRetry | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(
      "retry",
      `must be an object like { maxAttempts, backoff }, got ${String(value)}`,
    );
  }
  const given = value as RetryOptions;
  knownKeys("retry", given, ["maxAttempts", "backoff", "queueType"]);
  const backoff = given.backoff ?? new ExponentialBackoff();
  if (typeof backoff !== "object" || backoff === null || typeof backoff.get !== "function") {
    throw new InvalidOptionError("retry.backoff", "must have a get(attempt) method returning milliseconds");
  }
  return {
    maxAttempts: positiveInteger("retry.maxAttempts", given.maxAttempts, 5),
    backoff,
    queueType: queueTypeOption("retry.queueType", given.queueType, sourceType),
  };
}

/**
 * A route gets a dead-letter queue when it says `deadLetter` (true or an object) or has `retry`;
 * `deadLetter: false` turns it off (exhausted messages are then rejected without requeue).
 */
export function normalizeDeadLetter(
  value: unknown,
  hasRetry: boolean,
  sourceType: QueueType = "classic",
): ResolvedDeadLetter | undefined {
  const byDefault = { queue: undefined, queueType: sourceType };
  if (value === undefined) return hasRetry ? byDefault : undefined;
  if (value === false) return undefined;
  if (value === true) return byDefault;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(
      "deadLetter",
      `must be a boolean or { queue?, queueType? }, got ${String(value)}`,
    );
  }
  knownKeys("deadLetter", value, ["queue", "queueType"]);
  const given = value as DeadLetterOptions;
  return {
    queue: given.queue === undefined ? undefined : nonEmptyString("deadLetter.queue", given.queue),
    queueType: queueTypeOption("deadLetter.queueType", given.queueType, sourceType),
  };
}
