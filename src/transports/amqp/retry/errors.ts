import { ConfigurationError, StartError, WeirError } from "../../../core/errors.js";
import type { SchemaIssue } from "../../../core/schema.js";

/**
 * The errors of retries, dead letters and dedup. Those a handler never sees (an undecodable body, a schema
 * failure, an explicit `m.deadLetter()`) still exist as classes: they are what the dead-letter
 * headers record (`x-weir-error`, `x-weir-error-code`) and what the log lines carry.
 */

export { InvalidBodyError } from "../../../core/codec/errors.js";

/** A body the route's `schema` refused; `issues` says why. Recorded on its dead letter. */
export class SchemaValidationError extends WeirError {
  readonly issues: readonly SchemaIssue[];

  constructor(message: string, issues: readonly SchemaIssue[]) {
    super("WEIR_ERR_SCHEMA_VALIDATION", message);
    this.issues = issues;
  }
}

/** `m.deadLetter(reason)` was called. Recorded on the dead letter, with the reason as message. */
export class DeadLetteredError extends WeirError {
  constructor(reason: string) {
    super("WEIR_ERR_DEAD_LETTERED", reason);
  }
}

/** `m.retry({ reason })` was called. Recorded on the retried message, with the reason as message. */
export class RetryRequestedError extends WeirError {
  constructor(reason: string) {
    super("WEIR_ERR_RETRY_REQUESTED", reason);
  }
}

/** `m.retry()` on a route that has no `retry` option: there is no delay queue to send it to. */
export class RetryNotConfiguredError extends ConfigurationError {
  constructor() {
    super(
      "WEIR_ERR_RETRY_NOT_CONFIGURED",
      "m.retry() needs a route with a `retry` option; use m.reject() to requeue at once",
    );
  }
}

/** The route's `once` store failed; the message is treated as failed (retried, or `onException`). */
export class OnceStoreError extends WeirError {
  constructor(cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super("WEIR_ERR_ONCE_STORE", `the once store failed: ${message}`, { cause });
  }
}

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
