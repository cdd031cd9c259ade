import type { AppHealth } from "./application.js";
import type { Deadline } from "./deadline.js";
import type { Instrumentation } from "./instrumentation.js";
import type { Logger } from "./logger.js";

/**
 * The contract between the App and a source of work. It lives in core because core is the side
 * that calls it (core never imports a transport); each transport folder implements it.
 */

/** A route as the App records it, before a transport has validated and normalized it. */
export interface RouteRecord {
  /** Queue names, HTTP paths or SSE paths. */
  readonly routes: readonly string[];
  /** The route definition as the user wrote it (`type` included). */
  readonly spec: { readonly type: string };
  // biome-ignore lint/complexity/noBannedTypes: each transport narrows this to its handler type.
  readonly handler: Function;
}

export interface RouteHealth {
  /** A name for the route: its queues, path or stream. */
  readonly name: string;
  readonly ready: boolean;
  /** Transport-specific facts: connected, consuming, last delivery, reconnects, ... */
  readonly [detail: string]: unknown;
}

export interface TransportHealth {
  readonly transport: string;
  readonly ready: boolean;
  readonly routes: readonly RouteHealth[];
}

export interface Transport {
  /** The route type this transport serves (`"amqp"`, `"http"`, `"sse"`). */
  readonly type: string;
  /** Validates and keeps a route. Throws a `ConfigurationError` for anything it cannot run. */
  register(route: RouteRecord): void;
  /** Whether `start()` has anything to do (an app without HTTP routes opens no port). */
  needed(): boolean;
  /** Attaches every route; resolves once all of them receive work. */
  start(): Promise<void>;
  /**
   * Stops intake, hands every received message to its handler within the deadline and settles
   * every message. Must resolve (never hang) shortly after the deadline. Called on every transport,
   * started or not.
   */
  stop(deadline: Deadline): Promise<void>;
  /**
   * Releases what other transports' handlers may still use while they drain (the AMQP publisher and
   * connections): called once every transport's `stop()` has resolved.
   */
  close?(deadline: Deadline): Promise<void>;
  /**
   * Closes what must report on the stop until it is over (the HTTP server, while it serves the
   * health and metrics endpoints): called after every transport has closed and the shutdown hooks
   * have run. Must resolve shortly after the deadline at worst.
   */
  closeLast?(deadline: Deadline): Promise<void>;
  health(): TransportHealth;
}

/** What the App gives each transport when it creates it. */
export interface TransportContext {
  /** The app's logger; transports bind children to `{ transport, route }`. */
  readonly logger: Logger;
  /** The app's name, for connection names and log lines. */
  readonly appName: string;
  /** The app's whole health, for transports that serve it (HTTP `/ready`). */
  health(): AppHealth;
  /** Metrics and tracing hooks; `noInstrumentation` when observability is off. */
  readonly instrumentation: Instrumentation;
}
