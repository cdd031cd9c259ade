import { StartError, WeirError } from "../../../core/errors.js";
import { brokerReason, inequivalentArgument } from "../consume-errors.js";

/**
 * The errors of retries, dead letters and dedup. Those a handler never sees (an undecodable body, a schema
 * failure, an explicit `m.deadLetter()`) still exist as classes: they are what the dead-letter
 * headers record (`x-weir-error`, `x-weir-error-code`) and what the log lines carry.
 */

export {
  DeadLetteredError,
  InvalidBodyError,
  OnceStoreError,
  RetryNotConfiguredError,
  RetryRequestedError,
  SchemaValidationError,
} from "../../../core/consume/errors.js";

/** A dead-letter queue could not be declared when the route attached. */
export class DeadLetterDeclareError extends StartError {
  constructor(queue: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super("WEIR_ERR_DLQ_DECLARE", `could not declare the dead-letter queue "${queue}": ${message}`, {
      cause,
    });
  }
}

/** `listDeadLetters` / `replay` / `purgeDeadLetters` on a queue whose dead-letter queue does not exist. */
export class DeadLetterQueueNotFoundError extends WeirError {
  constructor(queue: string, vhost: string, cause: unknown) {
    super("WEIR_ERR_DLQ_NOT_FOUND", `dead-letter queue "${queue}" does not exist in vhost "${vhost}"`, {
      cause,
    });
  }
}

/**
 * The broker refused to declare a delay queue of weir's (406 PRECONDITION_FAILED): a queue of that
 * name exists with other arguments (another `x-queue-type`, TTL or dead-letter route; made by hand,
 * or by an older setup). `declared` is what weir sends; `existing` what the broker said the queue
 * has (the one argument it names, RabbitMQ tells one difference per refusal). The failed message is
 * requeued, never acked (its redeliveries count toward `retry.maxAttempts`).
 */
export class DelayQueueDeclareError extends WeirError {
  readonly queue: string;
  readonly declared: Readonly<Record<string, unknown>>;
  readonly existing: Readonly<Record<string, string>> | undefined;

  constructor(queue: string, declared: Readonly<Record<string, unknown>>, cause: unknown) {
    const reason = brokerReason(cause);
    const differs = inequivalentArgument(reason);
    const existing = differs === undefined ? undefined : { [differs.argument]: differs.current };
    super(
      "WEIR_ERR_DELAY_QUEUE_DECLARE",
      `could not declare the delay queue "${queue}": it exists with other arguments. ` +
        `weir declares ${JSON.stringify(declared)}; existing: ${existing === undefined ? "unknown" : JSON.stringify(existing)}. ` +
        `Set retry.queueType to the existing queue's type, or delete the queue once it is empty. Broker: ${reason}`,
      { cause },
    );
    this.queue = queue;
    this.declared = declared;
    this.existing = existing;
  }
}
