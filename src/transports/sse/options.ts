import { InvalidOptionError } from "../../core/errors.js";
import { redactUrl } from "../../core/logger.js";
import { fullJitterDelay } from "../../core/sleeper.js";
import { duration, knownKeys, MAX_TIMER_MS } from "../../core/validate.js";
import type { Backoff } from "../../utils/backoff.js";

/** Request headers: a fixed object, or a function called before every (re)connection. */
export type SSEHeaders =
  | Record<string, string>
  | (() => Record<string, string> | Promise<Record<string, string>>);

/** How long a stream waits before it reconnects: exponential with full jitter in `[floor, ceiling]`. */
export interface SSEReconnectOptions {
  /**
   * The delay after the first failure (ms). A server's `retry:` field raises it for that stream.
   * @defaultValue 1000
   */
  floor?: number;
  /**
   * The largest delay (ms) weir chooses; only a server's `retry:` may ask for more.
   * @defaultValue 30000
   */
  ceiling?: number;
}

/** Where a stream is and how to connect to it; shared by the app's `sse` option and SSE routes. */
export interface SSEConnectionOptions {
  /**
   * The server's base URL; each route path is appended to it (`url + path`). It may carry
   * `user:password@`, which is sent as a Basic Authorization header, never in the URL.
   * @defaultValue none (a route needs a url from itself or from the app)
   */
  url?: string;
  /**
   * Headers sent on every connection and reconnection. A function is called before each one, so it
   * can refresh a token; it may be async. If it throws, that attempt fails and is retried.
   * An explicit `Authorization` header wins over `user`/`password`.
   * @defaultValue no extra headers
   */
  headers?: SSEHeaders;
  /**
   * User of a Basic Authorization header.
   * @defaultValue the URL's user, else none
   */
  user?: string;
  /**
   * Password of a Basic Authorization header. Never logged.
   * @defaultValue the URL's password, else "" when `user` is set
   */
  password?: string;
  /**
   * Reconnect backoff: `{ floor, ceiling }` for weir's exponential backoff with full jitter, or any
   * `Backoff` (its `get(attempt)` gives the delay after `attempt` failures in a row). The server's
   * `retry:` is the floor either way, and the count restarts after every successful connection.
   * @defaultValue `{ floor: 1000, ceiling: 30000 }`
   */
  reconnect?: SSEReconnectOptions | Backoff;
  /**
   * Reconnect when nothing at all (no event, no comment keep-alive, no response headers) has
   * arrived for this long (ms). Catches half-open TCP connections, which otherwise look connected
   * forever. Set it above the server's keep-alive period.
   * @defaultValue undefined (no idle timeout)
   */
  idleTimeout?: number;
  /**
   * The most an event may take, in bytes: its field lines (`data:`, `id:`, `event:`, ...) from the
   * first to the blank line that ends it, comments left out. An event that grows past it (a server
   * that never ends a line, or an event of endless `data:` lines) drops the connection: it is logged
   * as an error with `WEIR_ERR_SSE_EVENT_TOO_LARGE`, the events before it are kept, and the stream
   * reconnects with `Last-Event-ID`. Without a bound, such an event fills the worker's memory.
   * @defaultValue 1048576 (1 MiB)
   */
  maxEventSize?: number;
}

/** The app-wide SSE defaults (`new App({ sse: { ... } })`). */
export interface SSEOptions extends SSEConnectionOptions {}

export const CONNECTION_KEYS = [
  "url",
  "headers",
  "user",
  "password",
  "reconnect",
  "idleTimeout",
  "maxEventSize",
] as const;

export const DEFAULT_MAX_EVENT_SIZE = 1024 * 1024;

const DEFAULT_FLOOR = 1000;
const DEFAULT_CEILING = 30_000;

/** A base URL split into what goes on the wire and the credentials that go into a header. */
export interface ParsedBase {
  readonly url: URL;
  readonly user: string | undefined;
  readonly password: string | undefined;
}

export function parseBaseUrl(option: string, value: unknown): ParsedBase | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidOptionError(option, `must be a non-empty string, got ${String(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError(option, `not a URL: ${redactUrl(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidOptionError(option, `must start with http:// or https://, got ${redactUrl(value)}`);
  }
  // fetch refuses URLs with credentials; they travel as a Basic Authorization header instead.
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  url.username = "";
  url.password = "";
  return { url, user, password };
}

export function checkHeaders(option: string, value: unknown): SSEHeaders | undefined {
  if (value === undefined || typeof value === "function") return value as SSEHeaders | undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, "must be an object of header values, or a function returning one");
  }
  for (const [name, header] of Object.entries(value)) {
    if (typeof header !== "string") {
      throw new InvalidOptionError(`${option}.${name}`, `must be a string, got ${typeof header}`);
    }
    try {
      // The same check fetch makes (token name, no CR/LF/NUL in the value), but at registration.
      new Headers([[name, header]]);
    } catch {
      throw new InvalidOptionError(`${option}.${name}`, "is not a valid HTTP header name or value");
    }
  }
  return value as Record<string, string>;
}

export function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string")
    throw new InvalidOptionError(option, `must be a string, got ${typeof value}`);
  return value;
}

/** Turns the `reconnect` option into "delay after n failures in a row", checked once. */
export function reconnectDelay(
  option: string,
  value: SSEReconnectOptions | Backoff | undefined,
): (failures: number) => number {
  if (value !== undefined && typeof (value as Backoff).get === "function") {
    const backoff = value as Backoff;
    return (failures) => safeDelay(() => backoff.get(failures), DEFAULT_FLOOR);
  }
  const given = (value ?? {}) as SSEReconnectOptions;
  knownKeys(option, given, ["floor", "ceiling"]);
  const floor = duration(`${option}.floor`, given.floor, DEFAULT_FLOOR, 0);
  const ceiling = duration(`${option}.ceiling`, given.ceiling, Math.max(DEFAULT_CEILING, floor), 0);
  if (ceiling < floor) throw new InvalidOptionError(`${option}.ceiling`, "must be >= floor");
  // setTimeout turns anything longer into 1 ms: a broken Backoff must not hot-loop.
  const max = Math.min(ceiling, MAX_TIMER_MS);
  return (failures) => fullJitterDelay(failures, Math.min(floor, max), max);
}

/**
 * A user's `Backoff` runs inside weir's loops: a throw or a nonsense value there must not kill the
 * loop (or hot-loop it), so it falls back to `fallback` ms.
 */
export function safeDelay(get: () => number, fallback: number): number {
  try {
    const delay = get();
    return Number.isFinite(delay) && delay >= 0 ? Math.min(delay, MAX_TIMER_MS) : fallback;
  } catch {
    return fallback;
  }
}

/** The server's `retry:` is a floor on weir's delay, as the SSE spec makes it the client's wait. */
export function withServerFloor(delay: number, serverRetry: number | undefined): number {
  return serverRetry === undefined ? delay : Math.min(Math.max(delay, serverRetry), MAX_TIMER_MS);
}
