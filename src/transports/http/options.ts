import type { FastifyServerOptions } from "fastify";
import { InvalidOptionError } from "../../core/errors.js";
import { duration, knownKeys, nonEmptyString } from "../../core/validate.js";

export const DEFAULT_HTTP_HOST = "127.0.0.1";
export const DEFAULT_HTTP_PORT = 8080;

/**
 * fastify's own server options, passed through as they are (`trustProxy`, `bodyLimit`,
 * `requestTimeout`, ...). The logger is weir's, so fastify's logger options are left out.
 */
export type HTTPServerOptions = Omit<FastifyServerOptions, "logger" | "loggerInstance" | "logController">;

/** weir's HTTP server (`new App({ http: { ... } })`). It starts only if the app serves HTTP. */
export interface HTTPOptions {
  /**
   * The interface to listen on. Use `0.0.0.0` (or `::`) to accept connections from other hosts.
   * @defaultValue `WEIR_HTTP_HOST`, else `"127.0.0.1"`
   */
  host?: string;
  /**
   * The TCP port; 0 picks a free one (read it back from `app.http.address` after `start()`).
   * @defaultValue `WEIR_HTTP_PORT`, else 8080
   */
  port?: number;
  /**
   * Log a line when each request arrives and completes (fastify's request logging). Off by default
   * because load-balancer probes would otherwise fill the logs of a worker.
   * @defaultValue false
   */
  logRequests?: boolean;
  /**
   * How long a client may take to send a request's head (request line and headers), in ms, before
   * its connection is closed (Node's `server.headersTimeout`). Node's default, 60 s, lets a client
   * that sends its headers a byte at a time (slowloris) hold a connection, and its memory, that long.
   * At most `requestTimeout` (when that is on).
   * @defaultValue 10000
   */
  headersTimeout?: number;
  /**
   * How long a client may take to send a whole request, head and body, in ms, before it gets a
   * 408 and its connection is closed (Node's `server.requestTimeout`); 0 turns it off. fastify's
   * default is 0.
   * @defaultValue 30000
   */
  requestTimeout?: number;
  /**
   * How long a kept-alive connection may sit idle between requests, in ms, before it is closed
   * (Node's `server.keepAliveTimeout`; fastify's default is 72 s). Behind a load balancer that
   * reuses its connections to the app, set it above the balancer's idle timeout (AWS ALB: 60 s),
   * or the balancer may send a request on a connection the app is closing (a 502).
   * @defaultValue 5000
   */
  keepAliveTimeout?: number;
  /**
   * Options handed to `fastify()` as they are. Its `requestTimeout` and `keepAliveTimeout` are used
   * when weir's options of the same name are not given (both at once is refused).
   * @defaultValue `{}`
   */
  fastify?: HTTPServerOptions;
}

/** HTTPOptions with every default applied, built once by the transport. */
export interface ResolvedHTTPOptions {
  readonly host: string;
  readonly port: number;
  readonly logRequests: boolean;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  /**
   * How often Node checks connections against the timeouts (ms): with its default, 30 s, a
   * connection could outlive its timeout by that much.
   */
  readonly connectionsCheckingInterval: number;
  readonly fastify: HTTPServerOptions;
}

export const DEFAULT_HEADERS_TIMEOUT = 10_000;
export const DEFAULT_REQUEST_TIMEOUT = 30_000;
export const DEFAULT_KEEP_ALIVE_TIMEOUT = 5_000;
const CONNECTIONS_CHECKING_INTERVAL = 1_000;

/** weir's option, else fastify's of the same meaning, else the default; both at once is refused. */
function timeout(
  option: string,
  own: unknown,
  fastifyOption: string,
  fromFastify: unknown,
  fallback: number,
  min: number,
): number {
  if (own !== undefined && fromFastify !== undefined) {
    throw new InvalidOptionError(
      `http.${option}`,
      `is set twice: here and as http.${fastifyOption}; keep one`,
    );
  }
  if (own !== undefined) return duration(`http.${option}`, own, fallback, min);
  return duration(`http.${fastifyOption}`, fromFastify, fallback, min);
}

function port(value: unknown, source: string): number {
  // The environment gives strings; "" or "80abc" must not silently become 0 or 80.
  const parsed = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof parsed !== "number" || !Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) {
    throw new InvalidOptionError(source, `must be an integer port between 0 and 65535, got ${String(value)}`);
  }
  return parsed;
}

/** Applies the defaults and the `WEIR_HTTP_*` environment once, at construction. */
export function resolveHTTPOptions(options: HTTPOptions, env = process.env): ResolvedHTTPOptions {
  knownKeys("http", options, [
    "host",
    "port",
    "logRequests",
    "headersTimeout",
    "requestTimeout",
    "keepAliveTimeout",
    "fastify",
  ]);
  const host =
    options.host !== undefined
      ? nonEmptyString("http.host", options.host)
      : nonEmptyString("WEIR_HTTP_HOST", env.WEIR_HTTP_HOST, DEFAULT_HTTP_HOST);
  const resolvedPort =
    options.port !== undefined
      ? port(options.port, "http.port")
      : env.WEIR_HTTP_PORT !== undefined
        ? port(env.WEIR_HTTP_PORT, "WEIR_HTTP_PORT")
        : DEFAULT_HTTP_PORT;
  if (options.logRequests !== undefined && typeof options.logRequests !== "boolean") {
    throw new InvalidOptionError("http.logRequests", "must be a boolean");
  }
  if (options.fastify !== undefined && (typeof options.fastify !== "object" || options.fastify === null)) {
    throw new InvalidOptionError("http.fastify", "must be an object of fastify server options");
  }
  const fastify = options.fastify ?? {};
  const headersTimeout = duration("http.headersTimeout", options.headersTimeout, DEFAULT_HEADERS_TIMEOUT);
  const requestTimeout = timeout(
    "requestTimeout",
    options.requestTimeout,
    "fastify.requestTimeout",
    fastify.requestTimeout,
    DEFAULT_REQUEST_TIMEOUT,
    0,
  );
  const keepAliveTimeout = timeout(
    "keepAliveTimeout",
    options.keepAliveTimeout,
    "fastify.keepAliveTimeout",
    fastify.keepAliveTimeout,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    1,
  );
  // Node refuses a head that may take longer than the whole request.
  if (requestTimeout > 0 && headersTimeout > requestTimeout) {
    throw new InvalidOptionError(
      "http.headersTimeout",
      `must be at most requestTimeout (${requestTimeout} ms), got ${headersTimeout}`,
    );
  }
  return {
    host,
    port: resolvedPort,
    logRequests: options.logRequests ?? false,
    headersTimeout,
    requestTimeout,
    keepAliveTimeout,
    connectionsCheckingInterval: Math.min(CONNECTIONS_CHECKING_INTERVAL, headersTimeout),
    fastify,
  };
}
