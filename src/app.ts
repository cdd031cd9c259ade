import { Application, type CoreOptions } from "./core/application.js";
import { noInstrumentation } from "./core/instrumentation.js";
import type { TransportContext } from "./core/transport.js";
import type { AMQPHandler, AMQPOptions, AMQPRouteSpec } from "./transports/amqp/index.js";
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
  /** weir's HTTP server: where it listens. It starts only if the app has an HTTP route. */
  http?: HTTPOptions;
  /** The default Server-Sent Events source for SSE routes. */
  sse?: SSEOptions;
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

  constructor(options: AppOptions = {}) {
    super(options);
    const context: TransportContext = {
      logger: this.logger,
      appName: this.name,
      health: () => this.health(),
      instrumentation: noInstrumentation,
    };
    const amqp = new AMQPTransport(context, options.amqp);
    const http = new HTTPTransport(context, options.http);
    this.addTransport(amqp);
    this.addTransport(http);
    this.addTransport(new SSETransport(context, options.sse));
    this.amqp = amqp;
    this.http = http.facade((routes, spec, handler) => this.route(routes, spec, handler));
  }

  /**
   * Binds `handler` to `routes`. The route's `type` decides what the handler receives: an array of
   * AMQP messages, an array of SSE events, or fastify's `(request, reply)`. Returns the handler.
   * Misuse (an unknown type, a bad option, a non-function handler, a call after start) throws a
   * `WeirError` here, never later.
   */
  route<T = unknown>(routes: readonly string[], spec: AMQPRouteSpec, handler: AMQPHandler<T>): AMQPHandler<T>;
  route(routes: readonly string[], spec: HTTPRouteSpec, handler: HTTPHandler): HTTPHandler;
  route<T = unknown>(routes: readonly string[], spec: SSERouteSpec, handler: SSEHandler<T>): SSEHandler<T>;
  route(routes: readonly string[], spec: { type: string }, handler: unknown): unknown {
    this.addRoute(routes, spec, handler);
    return handler;
  }
}
