import type { FastifyServerOptions } from "fastify";
import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys, nonEmptyString } from "../../core/validate.js";

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
   * Options handed to `fastify()` as they are.
   * @defaultValue `{}`
   */
  fastify?: HTTPServerOptions;
}

/** HTTPOptions with every default applied, built once by the transport. */
export interface ResolvedHTTPOptions {
  readonly host: string;
  readonly port: number;
  readonly logRequests: boolean;
  readonly fastify: HTTPServerOptions;
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
  knownKeys("http", options, ["host", "port", "logRequests", "fastify"]);
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
  return {
    host,
    port: resolvedPort,
    logRequests: options.logRequests ?? false,
    fastify: options.fastify ?? {},
  };
}
