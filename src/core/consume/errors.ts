import { ConfigurationError, WeirError } from "../errors.js";
import type { SchemaIssue } from "../schema.js";

/**
 * The errors of the delivery policies (schema, once-only, retries, dead letters), shared by every
 * transport. Those a handler never sees (a schema failure, an explicit `m.deadLetter()`) still exist
 * as classes: they are what dead letters record and what log lines carry.
 */

export { InvalidBodyError } from "../codec/errors.js";

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

/** `m.retry()` on a route that has no `retry` option: there is nowhere to send it back from. */
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
