import { BULK_DEFAULTS, type BulkOptions } from "../../core/bulk-pipeline.js";
import type { RouteTypes } from "../../core/constants.js";
import type { ResolvedOnce } from "../../core/consume/once/options.js";
import { onceOption } from "../../core/consume/once/options.js";
import type { OnceOptions } from "../../core/consume/once/store.js";
import { InvalidOptionError } from "../../core/errors.js";
import { type HandlerContext, handlerTimeoutOption } from "../../core/handler-call.js";
import { type Logger, redactUrl } from "../../core/logger.js";
import { type StandardSchemaV1, schemaOption } from "../../core/schema.js";
import type { RouteRecord } from "../../core/transport.js";
import { duration, knownKeys, positiveInteger } from "../../core/validate.js";
import type { Backoff } from "../../utils/backoff.js";
import { SSEDuplicateStreamError, SSEMissingURLError } from "./errors.js";
import type { SSEEvent } from "./event.js";
import { HeaderSource } from "./headers.js";
import {
  CONNECTION_KEYS,
  checkHeaders,
  DEFAULT_MAX_EVENT_SIZE,
  optionalString,
  type ParsedBase,
  parseBaseUrl,
  reconnectDelay,
  type SSEConnectionOptions,
  type SSEHeaders,
  type SSEOptions,
  safeDelay,
} from "./options.js";
import type { StreamConfig } from "./stream-consumer.js";

/** What an SSE route does when its handler still fails after its retries. */
export const SSEExceptionActions = {
  /** Log the failure and go on with the next events. */
  CONTINUE: "continue",
  /** Log the failure, close the route's streams and report the route not ready. */
  STOP: "stop",
} as const;
export type SSEExceptionAction = (typeof SSEExceptionActions)[keyof typeof SSEExceptionActions];

/** How a failing handler is re-run on the same bulk before weir gives up on it. */
export interface SSERetryOptions {
  /**
   * Handler calls per bulk in all, the first one included (3 = the first call and two re-runs).
   * @defaultValue 3
   */
  maxAttempts?: number;
  /**
   * The wait before each re-run: a `Backoff` (`get(n)` after the n-th failure) or a fixed number of ms.
   * @defaultValue 1000
   */
  backoff?: Backoff | number;
}

/** Per-route behaviour of an SSE route (`options` in the route definition). */
export interface SSERouteOptions extends BulkOptions {
  /**
   * What happens when the handler throws (after its `retry` attempts): `"continue"` logs and goes on,
   * `"stop"` also closes the route's streams, drops its events not yet handled, and reports it not ready.
   * @defaultValue "continue"
   */
  onException?: SSEExceptionAction;
  /**
   * Re-run a failing handler on the same bulk before `onException` applies.
   * @defaultValue undefined (one attempt)
   */
  retry?: SSERetryOptions;
  /**
   * Events received but not yet handled (buffered, waiting for a slot, or in the handler) above
   * which weir stops reading the route's streams until the handler catches up: TCP then pushes
   * back on the server instead of memory growing. A soft bound: the events of one network chunk
   * may overshoot it. `bulkSize` is capped at it (a bulk above it could never fill).
   * @defaultValue `max(1000, bulkSize * (concurrency + 1))`
   */
  maxPending?: number;
}

/**
 * An SSE route: one stream per path, at `url + path`. A route that sets its own `url` is a source of
 * its own: the app's `headers`, `user` and `password` are not sent to it (they belong to the app's url).
 */
export interface SSERouteSpec<T = unknown> extends SSEConnectionOptions {
  type: typeof RouteTypes.SSE;
  options?: SSERouteOptions;
  /**
   * A Standard Schema (zod, valibot, arktype) each event's body must pass before the handler sees it
   * (the handler gets the schema's output, and its type is inferred from it). An event that fails is
   * dropped and logged with `WEIR_ERR_SCHEMA_VALIDATION` (SSE has nowhere to dead-letter it), counted
   * as rejected; the route goes on.
   * @defaultValue none
   */
  schema?: StandardSchemaV1;
  /**
   * Once-only processing: an event whose key was handled within `ttl` ms is skipped without calling
   * the handler (a server that replays events after a reconnect). The default key is the event's
   * `id:`, else a hash of its data.
   * @defaultValue off
   */
  once?: OnceOptions<T, SSEEvent<T>>;
}

/**
 * A handler of an SSE route: always receives an array of at most `bulkSize` events, and a context
 * whose `signal` aborts when the route's `timeout` passes.
 */
export type SSEHandler<T = unknown> = (events: SSEEvent<T>[], context: HandlerContext) => unknown;

/** An SSE route with every default applied and every option checked. */
export interface SSERoute {
  readonly name: string;
  readonly streams: readonly StreamConfig[];
  readonly bulkSize: number;
  readonly flushInterval: number;
  readonly concurrency: number;
  /** The longest one handler call may take (ms); undefined: no limit. */
  readonly timeout: number | undefined;
  readonly maxPending: number;
  readonly onException: SSEExceptionAction;
  readonly maxAttempts: number;
  /** Wait before re-run number `failures` (ms). */
  readonly retryDelay: (failures: number) => number;
  readonly handler: SSEHandler;
  readonly schema: StandardSchemaV1 | undefined;
  readonly once: ResolvedOnce<SSEEvent> | undefined;
}

/** The app's `sse` option, checked once when the App is built. */
export interface ResolvedSSEOptions {
  readonly base: ParsedBase | undefined;
  readonly headers: SSEHeaders | undefined;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly reconnect: SSEOptions["reconnect"];
  readonly idleTimeout: number | undefined;
  readonly maxEventSize: number;
}

export function resolveSSEOptions(options: SSEOptions): ResolvedSSEOptions {
  knownKeys("sse", options, CONNECTION_KEYS);
  const resolved: ResolvedSSEOptions = {
    base: parseBaseUrl("sse.url", options.url),
    headers: checkHeaders("sse.headers", options.headers),
    user: optionalString("sse.user", options.user),
    password: optionalString("sse.password", options.password),
    reconnect: options.reconnect,
    idleTimeout:
      options.idleTimeout === undefined ? undefined : duration("sse.idleTimeout", options.idleTimeout, 0),
    maxEventSize: positiveInteger("sse.maxEventSize", options.maxEventSize, DEFAULT_MAX_EVENT_SIZE),
  };
  checkCredentials("sse.password", resolved.user, resolved.password);
  reconnectDelay("sse.reconnect", options.reconnect);
  return resolved;
}

function checkCredentials(option: string, user: string | undefined, password: string | undefined): void {
  if (password !== undefined && user === undefined) {
    throw new InvalidOptionError(option, "is set without a user");
  }
}

/** `base + path`, keeping the base's path prefix and merging query strings. */
export function streamUrl(base: URL, path: string): URL {
  const url = new URL(base.href);
  const queryAt = path.indexOf("?");
  const pathname = queryAt === -1 ? path : path.slice(0, queryAt);
  const prefix = url.pathname.endsWith("/") ? url.pathname.slice(0, -1) : url.pathname;
  url.pathname = `${prefix}${pathname.startsWith("/") ? "" : "/"}${pathname}`;
  if (queryAt !== -1) {
    for (const [key, value] of new URLSearchParams(path.slice(queryAt + 1)))
      url.searchParams.append(key, value);
  }
  return url;
}

function retryDelay(retry: SSERetryOptions | undefined): {
  maxAttempts: number;
  delay: (n: number) => number;
} {
  if (retry === undefined) return { maxAttempts: 1, delay: () => 0 };
  knownKeys("options.retry", retry, ["maxAttempts", "backoff"]);
  const maxAttempts = positiveInteger("options.retry.maxAttempts", retry.maxAttempts, 3);
  const backoff = retry.backoff ?? 1000;
  if (typeof backoff === "number") {
    const ms = duration("options.retry.backoff", backoff, 1000, 0);
    return { maxAttempts, delay: () => ms };
  }
  if (typeof backoff !== "object" || backoff === null || typeof backoff.get !== "function") {
    throw new InvalidOptionError(
      "options.retry.backoff",
      "must be a number of ms or a Backoff (an object with get)",
    );
  }
  return {
    maxAttempts,
    delay: (failures) => safeDelay(() => backoff.get(failures), 1000),
  };
}

const SPEC_KEYS = ["type", "options", "schema", "once", ...CONNECTION_KEYS] as const;
const OPTION_KEYS = [
  "bulkSize",
  "bulkFlushInterval",
  "concurrency",
  "timeout",
  "onException",
  "retry",
  "maxPending",
] as const;
const EXCEPTION_ACTIONS: readonly string[] = Object.values(SSEExceptionActions);

/** Checks an SSE route once, at registration, and applies the app's defaults and its own. */
export function normalizeSSERoute(record: RouteRecord, app: ResolvedSSEOptions, logger: Logger): SSERoute {
  const spec = record.spec as SSERouteSpec;
  const name = record.routes.join(",");
  knownKeys("route", spec, SPEC_KEYS);
  const options = spec.options ?? {};
  knownKeys("options", options, OPTION_KEYS);

  const own = parseBaseUrl("url", spec.url);
  const base = own ?? app.base;
  if (base === undefined) throw new SSEMissingURLError(name);
  const routeHeaders = checkHeaders("headers", spec.headers);
  const routeUser = optionalString("user", spec.user);
  const routePassword = optionalString("password", spec.password);
  checkCredentials("password", routeUser, routePassword);
  // The app's credentials belong to the app's url: a route with a url of its own never gets them.
  const inherited = own === undefined;
  const sources = [inherited ? app.headers : undefined, routeHeaders].filter(
    (source): source is SSEHeaders => source !== undefined,
  );
  // The most specific credentials win: the route's, then the app's options, then the URL's own.
  const [user, password] =
    routeUser !== undefined
      ? [routeUser, routePassword]
      : inherited && app.user !== undefined
        ? [app.user, app.password]
        : [base.user, base.password];
  const headers = new HeaderSource(sources, user, password);

  const delay = reconnectDelay(
    spec.reconnect === undefined ? "sse.reconnect" : "reconnect",
    spec.reconnect ?? app.reconnect,
  );
  const idleTimeout =
    spec.idleTimeout === undefined ? app.idleTimeout : duration("idleTimeout", spec.idleTimeout, 0);
  const maxEventSize = positiveInteger("maxEventSize", spec.maxEventSize, app.maxEventSize);

  const seen = new Set<string>();
  const streams = record.routes.map((path): StreamConfig => {
    const url = streamUrl(base.url, path);
    const safeUrl = redactUrl(url.href);
    if (seen.has(url.href)) throw new SSEDuplicateStreamError(name, safeUrl);
    seen.add(url.href);
    return { path, url, safeUrl, headers, reconnectDelay: delay, idleTimeout, maxEventSize };
  });

  const onException = options.onException ?? SSEExceptionActions.CONTINUE;
  if (!EXCEPTION_ACTIONS.includes(onException)) {
    throw new InvalidOptionError(
      "onException",
      `unknown action ${String(onException)} (known: ${EXCEPTION_ACTIONS.join(", ")})`,
    );
  }
  const retry = retryDelay(options.retry);
  const requested = positiveInteger("bulkSize", options.bulkSize, BULK_DEFAULTS.bulkSize);
  const concurrency = positiveInteger("concurrency", options.concurrency, BULK_DEFAULTS.concurrency);
  const maxPending = positiveInteger(
    "maxPending",
    options.maxPending,
    Math.max(1000, requested * (concurrency + 1)),
  );
  if (requested > maxPending) {
    logger.warn(
      { route: name, bulkSize: requested, maxPending },
      "bulkSize is above maxPending; using maxPending",
    );
  }
  return {
    name,
    streams,
    bulkSize: Math.min(requested, maxPending),
    flushInterval: duration("bulkFlushInterval", options.bulkFlushInterval, BULK_DEFAULTS.bulkFlushInterval),
    concurrency,
    timeout: handlerTimeoutOption("timeout", options.timeout),
    maxPending,
    onException,
    maxAttempts: retry.maxAttempts,
    retryDelay: retry.delay,
    handler: record.handler as SSEHandler,
    schema: schemaOption("schema", spec.schema),
    once: onceOption<SSEEvent>(spec.once),
  };
}
