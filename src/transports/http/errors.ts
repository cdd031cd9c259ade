import { ConfigurationError, StartError, WeirError } from "../../core/errors.js";

/**
 * Two routes claim the same method and path. Thrown by `app.route` (or a shorthand) for the second
 * one, at registration, so the mistake points at the line that made it.
 */
export class DuplicateRouteError extends ConfigurationError {
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, options?: { cause?: unknown }) {
    const head = method === "HEAD" ? " (fastify already answers HEAD for every GET route)" : "";
    super("WEIR_ERR_DUPLICATE_ROUTE", `${method} ${path} is already registered${head}`, options);
    this.method = method;
    this.path = path;
  }
}

/** fastify refused a route for a reason other than a duplicate (an invalid path, ...). */
export class HTTPRouteError extends ConfigurationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEIR_ERR_HTTP_ROUTE", message, options);
  }
}

/** Another process (or another app) already listens on the configured host and port. */
export class PortInUseError extends StartError {
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, options?: { cause?: unknown }) {
    super("WEIR_ERR_PORT_IN_USE", `cannot listen on ${host}:${port}: the port is in use`, options);
    this.host = host;
    this.port = port;
  }
}

/**
 * The HTTP server could not start for another reason: a plugin failed to load, a route schema does
 * not compile, the address is not available or not permitted. The original error is the `cause`.
 */
export class HTTPStartError extends StartError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEIR_ERR_HTTP_START", message, options);
  }
}

/**
 * An authorizer could not check a request because what it depends on failed (the JWKS endpoint is
 * down or returns garbage). The client gets a 503, not a 401: its credentials may well be fine.
 */
export class AuthUnavailableError extends WeirError {
  readonly statusCode = 503;

  constructor(message: string, options?: { cause?: unknown }) {
    super("WEIR_ERR_AUTH_UNAVAILABLE", message, options);
  }
}

/**
 * A user route claims a path that one of weir's own endpoints (health, readiness, metrics) serves.
 * Thrown at registration; move the endpoint with the option the message names, or turn it off.
 */
export class ReservedPathError extends ConfigurationError {
  readonly path: string;

  constructor(path: string, owner: string, option: string) {
    super(
      "WEIR_ERR_RESERVED_PATH",
      `${path} is served by ${owner}; move it with ${option} or set that option to false`,
    );
    this.path = path;
  }
}
