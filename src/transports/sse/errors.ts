import { ConfigurationError, ConnectionError, WeirError } from "../../core/errors.js";

/**
 * The errors of the SSE transport. Registration errors are thrown by `app.route`; stream errors are
 * never thrown at the user: they are logged, kept in `health()` as the stream's `lastError`, and the
 * stream reconnects with backoff. Codes are listed in docs/sse.md.
 */

/** Why a stream error happened; the codes are stable, the messages are not. */
export type SSEStreamErrorCode =
  | "WEIR_ERR_SSE_NETWORK"
  | "WEIR_ERR_SSE_DISCONNECTED"
  | "WEIR_ERR_SSE_IDLE_TIMEOUT"
  | "WEIR_ERR_SSE_EVENT_TOO_LARGE"
  | "WEIR_ERR_SSE_CONTENT_TYPE"
  | "WEIR_ERR_SSE_HEADERS"
  | "WEIR_ERR_SSE_AUTH"
  | "WEIR_ERR_SSE_NOT_FOUND"
  | "WEIR_ERR_SSE_HTTP_STATUS";

/** An SSE route has no URL: neither the route nor the app's `sse` option gives one. */
export class SSEMissingURLError extends ConfigurationError {
  constructor(route: string) {
    super(
      "WEIR_ERR_SSE_NO_URL",
      `SSE route ${route} has no url: give the route a url, or the app an sse: { url } option`,
    );
  }
}

/** One SSE route lists the same stream twice: every event would reach its handler twice. */
export class SSEDuplicateStreamError extends ConfigurationError {
  constructor(route: string, url: string) {
    super("WEIR_ERR_SSE_DUPLICATE_STREAM", `SSE route ${route} opens ${url} twice`);
  }
}

/** A connection to an event stream failed or ended. `url` is redacted (no password). */
export class SSEStreamError extends ConnectionError {
  declare readonly code: SSEStreamErrorCode;
  readonly url: string;

  constructor(code: SSEStreamErrorCode, url: string, message: string, options?: { cause?: unknown }) {
    super(code, `${message} (${url})`, options);
    this.url = url;
  }
}

/** The server answered with a status other than 200. */
export class SSEHTTPStatusError extends SSEStreamError {
  readonly status: number;

  constructor(url: string, status: number) {
    super(statusCode(status), url, statusMessage(status));
    this.status = status;
  }
}

function statusCode(status: number): SSEStreamErrorCode {
  if (status === 401 || status === 403) return "WEIR_ERR_SSE_AUTH";
  if (status === 404) return "WEIR_ERR_SSE_NOT_FOUND";
  return "WEIR_ERR_SSE_HTTP_STATUS";
}

function statusMessage(status: number): string {
  if (status === 401) return "the server refused the credentials (HTTP 401)";
  if (status === 403) return "the server forbids this stream to these credentials (HTTP 403)";
  if (status === 404) return "the server has no stream at this path (HTTP 404)";
  if (status === 204) return "the server asked the client to stop reconnecting (HTTP 204)";
  return `the server answered HTTP ${status} instead of 200`;
}

/**
 * An SSE handler failed on a bulk and every retry failed too. It is logged with the bulk's event ids;
 * the handler's own error is its `cause`.
 */
export class SSEHandlerError extends WeirError {
  /** The ids of the events in the bulk (`undefined` for events sent without an id). */
  readonly eventIds: readonly (string | undefined)[];
  readonly attempts: number;

  constructor(route: string, eventIds: readonly (string | undefined)[], attempts: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "WEIR_ERR_SSE_HANDLER_FAILED",
      `handler of SSE route ${route} failed on ${eventIds.length} event(s) after ${attempts} attempt(s): ${reason}`,
      { cause },
    );
    this.eventIds = eventIds;
    this.attempts = attempts;
  }
}
