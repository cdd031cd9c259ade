import type { WeirErrorCode } from "./error-codes.js";

/**
 * Every error weir throws is a `WeirError` with a stable `code` (`WEIR_ERR_*`), listed in
 * docs/errors.md. Match on `code`, not on the message: messages may be reworded, codes never change.
 * The error that caused it, when there is one, is kept as the standard `cause`.
 */
export class WeirError extends Error {
  /** A stable, documented identifier such as `WEIR_ERR_INVALID_OPTION` (`ERROR_CODES`). */
  readonly code: WeirErrorCode;

  constructor(code: WeirErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A route, an option or a hook was given a value weir cannot use. Thrown at registration. */
export class ConfigurationError extends WeirError {}

/** The handler passed to `app.route` (or a hook) is not a function. */
export class InvalidHandlerError extends ConfigurationError {
  constructor(what: string) {
    super("WEIR_ERR_HANDLER_NOT_FUNCTION", `${what} must be a function`);
  }
}

/** An option is out of range or of the wrong type; `option` names it. */
export class InvalidOptionError extends ConfigurationError {
  readonly option: string;

  constructor(option: string, message: string) {
    super("WEIR_ERR_INVALID_OPTION", `invalid option "${option}": ${message}`);
    this.option = option;
  }
}

/** The App was used in a way its lifecycle does not allow (e.g. a route registered after start). */
export class LifecycleError extends WeirError {}

/** A transport could not attach a route at start (a missing queue, a port in use, ...). */
export class StartError extends WeirError {}

/**
 * The broker or server could not be reached, refused the credentials (`WEIR_ERR_AUTH`), or the
 * connection was lost for good.
 */
export class ConnectionError extends WeirError {}

/**
 * A publish did not end with the broker's confirm: returned as unroutable, refused, never sent, sent
 * but not confirmed, nacked, or the app stopped. `code` says which (docs/errors.md).
 */
export class PublishError extends WeirError {
  /**
   * Whether the message may be on the broker: `false`, it was not stored (publishing it again makes
   * no duplicate); `true`, it may have been stored (publish again only if consumers deduplicate, by
   * `messageId` for instance); `undefined` when weir cannot tell.
   */
  readonly sent: boolean | undefined = undefined;
}

/**
 * Thrown by a handler to say the message can never succeed: it skips the route's retries and goes
 * straight to the dead-letter queue (or is rejected without requeue when the route has none).
 */
export class UnrecoverableError extends WeirError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEIR_ERR_UNRECOVERABLE", message, options);
  }
}
