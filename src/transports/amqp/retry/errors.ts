import { StartError, WeirError } from "../../../core/errors.js";

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
