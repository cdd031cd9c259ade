import type { Registry } from "prom-client";
import { Application, type CoreOptions } from "./core/application.js";
import type { SchemaOutput, StandardSchemaV1 } from "./core/schema.js";
import type { TransportContext } from "./core/transport.js";
import { knownKeys } from "./core/validate.js";
import { Observability } from "./observability/observability.js";
import type { ObservabilityOptions } from "./observability/options.js";
import { createTask, type Task, type TaskHandler, type TaskOptions } from "./tasks.js";
import type {
  AMQPHandler,
  AMQPOptions,
  AMQPRouteSpec,
  AMQPSchemaRouteSpec,
} from "./transports/amqp/index.js";
import { type AMQPClient, AMQPTransport } from "./transports/amqp/index.js";
import {
  type HTTPFacade,
  type HTTPHandler,
  type HTTPOptions,
  type HTTPRouteSpec,
  HTTPTransport,
} from "./transports/http/index.js";
import { type SSEHandler, type SSEOptions, type SSERouteSpec, SSETransport } from "./transports/sse/index.js";

/** Everything `new App(...)` accepts. */
export interface AppOptions extends CoreOptions {
  /** The RabbitMQ transport: URL, prefetch, heartbeat, reconnect backoff, publish timeout. */
  amqp?: AMQPOptions;
  /**
   * weir's HTTP server: where it listens. It starts only if the app has an HTTP route, a plugin, or
   * serves `observability` endpoints.
   */
  http?: HTTPOptions;
  /** The default Server-Sent Events source for SSE routes. */
  sse?: SSEOptions;
  /**
   * `/health`, `/ready`, Prometheus metrics on `/metrics`, and OpenTelemetry spans; `true` turns all
   * of them on. Opt-in, so that an app never grows endpoints (or, as a pure AMQP worker, opens a
   * port) it did not ask for. See docs/operations.md.
   * @defaultValue false
   */
  observability?: boolean | ObservabilityOptions;
}

const APP_OPTION_KEYS = [
  "logger",
  "shutdownTimeout",
  "name",
  "amqp",
  "http",
  "sse",
  "observability",
] as const;

/** Refuses unknown keys before anything is built: `{ ampq: {...} }` must not quietly use the default broker. */
function checked(options: AppOptions): AppOptions {
  knownKeys("", options, APP_OPTION_KEYS);
  return options;
}

/** @internal The key under which an App keeps its transports, for weir/testing and the CLI. */
export const appTransports: unique symbol = Symbol("weir.appTransports");

/** @internal The transports behind an App; not public API. */
export interface AppTransports {
  readonly amqp: AMQPTransport;
  readonly http: HTTPTransport;
  readonly sse: SSETransport;
}

/**
 * A weir application: one route table of AMQP, HTTP and SSE handlers with a shared lifecycle.
 *
 * ```ts
 * const app = new App({ amqp: { prefetch: 256 } });
 * app.route(["orders"], { type: RouteTypes.AMQP, options: { bulkSize: 100 } }, async (messages) => {});
 * await app.run();
 * ```
 */
export class App<S extends object = Record<string, unknown>> extends Application<S> {
  /** Publish to RabbitMQ with publisher confirms. */
  readonly amqp: AMQPClient;
  /** weir's fastify server, for plugins and route shorthands. */
  readonly http: HTTPFacade;
  /**
   * The App's own prom-client registry (never the global one), for your metrics beside weir's;
   * `undefined` unless `observability.metrics` is on.
   */
  readonly metrics: Registry | undefined;
  /** @internal */
  readonly [appTransports]: AppTransports;

  /**
   * Checks every option here, once: a bad value or an unknown key (a misspelling such as `ampq` or
   * `shutdowntimeout`) throws an `InvalidOptionError` (`WEIR_ERR_INVALID_OPTION`) naming it and
   * listing the known keys.
   */
  constructor(options: AppOptions = {}) {
    super(checked(options));
    const observability = new Observability(options.observability, this);
    this.metrics = observability.registry;
    const context: TransportContext = {
      logger: this.logger,
      appName: this.name,
      health: () => this.health(),
      instrumentation: observability.instrumentation,
    };
    const amqp = new AMQPTransport(context, options.amqp);
    const http = new HTTPTransport(context, options.http);
    this.addTransport(amqp);
    this.addTransport(http);
    const sse = new SSETransport(context, options.sse);
    this.addTransport(sse);
    this[appTransports] = { amqp, http, sse };
    this.amqp = amqp;
    this.http = http.facade((routes, spec, handler) => this.route(routes, spec, handler));
    // Before any route exists: the request hooks wrap the handlers of routes added after them.
    observability.attachHTTP(this.http.server, (path, owner, option) => http.reserve(path, owner, option));
  }

  /**
   * Binds `handler` to `routes`. The route's `type` decides what the handler receives: an array of
   * AMQP messages, an array of SSE events, or fastify's `(request, reply)`. Returns the handler.
   * Misuse (an unknown type, a bad option, a non-function handler, a call after start) throws a
   * `WeirError` here, never later.
   */
  route<S extends StandardSchemaV1>(
    routes: readonly string[],
    spec: AMQPSchemaRouteSpec<S>,
    handler: AMQPHandler<SchemaOutput<S>>,
  ): AMQPHandler<SchemaOutput<S>>;
  route<T = unknown>(
    routes: readonly string[],
    spec: AMQPRouteSpec<T> & { schema?: undefined },
    handler: AMQPHandler<T>,
  ): AMQPHandler<T>;
  // A spec typed as a whole `AMQPRouteSpec` may hold a schema of unknown output: the body is unknown.
  route(routes: readonly string[], spec: AMQPRouteSpec, handler: AMQPHandler<unknown>): AMQPHandler<unknown>;
  route(routes: readonly string[], spec: HTTPRouteSpec, handler: HTTPHandler): HTTPHandler;
  route<T = unknown>(routes: readonly string[], spec: SSERouteSpec, handler: SSEHandler<T>): SSEHandler<T>;
  route(routes: readonly string[], spec: { type: string }, handler: unknown): unknown {
    this.addRoute(routes, spec, handler);
    return handler;
  }

  /**
   * Defines a task: an AMQP route on the queue `name` (declared by weir) that calls `handler` with
   * one payload at a time, and returns its producer, whose `delay(payload, { delay })` enqueues a
   * run from any process, with publisher confirms. The payload type comes from `schema` (zod,
   * valibot, arktype: any Standard Schema) or from the type parameter. Misuse throws a `WeirError`
   * here, like `route`.
   *
   * ```ts
   * const sendEmail = app.task("emails.send", async (email) => mailer.send(email), { schema: Email });
   * await sendEmail.delay({ to: "ada@example.com" }, { delay: 60_000 });
   * ```
   */
  task<Schema extends StandardSchemaV1>(
    name: string,
    handler: TaskHandler<StandardSchemaV1.InferOutput<Schema>>,
    options: TaskOptions<StandardSchemaV1.InferOutput<Schema>> & { schema: Schema },
  ): Task<StandardSchemaV1.InferInput<Schema>>;
  task<T = unknown>(
    name: string,
    handler: TaskHandler<T>,
    options?: TaskOptions<T> & { schema?: undefined },
  ): Task<T>;
  task(
    name: string,
    handler: TaskHandler<unknown>,
    options?: TaskOptions & { schema?: StandardSchemaV1 },
  ): Task<unknown> {
    const transports = this[appTransports];
    return createTask(
      {
        route: (routes, spec, routeHandler) => this.route(routes, spec, routeHandler),
        transport: transports.amqp,
      },
      name,
      handler,
      options,
    );
  }
}
