import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import type { Logger } from "../../core/logger.js";
import type {
  EndpointHost,
  RouteDescription,
  RouteRecord,
  Transport,
  TransportContext,
  TransportHealth,
} from "../../core/transport.js";
import { ReservedPathError } from "./errors.js";
import { createFacade, type HTTPFacade, type RouteFunction } from "./facade.js";
import { type HTTPOptions, resolveHTTPOptions } from "./options.js";
import { type HTTPRoute, type HTTPRouteSpec, normalizeHTTPRoute } from "./route-spec.js";
import { mountRoute } from "./routes.js";
import { HTTPServer } from "./server.js";

/**
 * The HTTP transport: one fastify server for every HTTP route of the app. It listens only when
 * something needs it, so a pure AMQP worker opens no port.
 */
export class HTTPTransport implements Transport {
  readonly type = RouteTypes.HTTP;
  readonly system = "http";
  readonly role = "serve";
  /** `app.http`. */
  readonly client: HTTPFacade;
  readonly endpoints: Required<EndpointHost>;
  private readonly logger: Logger;
  private readonly server: HTTPServer;
  private readonly routes: HTTPRoute[] = [];
  /** Why the server must listen: "routes", "plugins", and whatever later features add. */
  private readonly needs = new Set<string>();
  /** Paths of weir's own endpoints, and who serves them (for the error a clashing route gets). */
  private readonly reserved = new Map<string, { owner: string; option: string }>();
  private injecting = false;

  constructor(context: TransportContext, options: HTTPOptions = {}) {
    this.logger = context.logger.child({ transport: "http" });
    const resolved = resolveHTTPOptions(options);
    this.server = new HTTPServer(resolved, this.logger);
    this.client = this.facade((routes, spec, handler) => context.route(routes, spec, handler));
    const server = this.server;
    this.endpoints = {
      get server() {
        return server.instance;
      },
      whenServer: (listener) => server.whenCreated(listener),
      reserve: (path, owner, option) => this.reserve(path, owner, option),
    };
    // Every route counts, including those added straight on `app.http.server` or by a plugin, and
    // every route but weir's own endpoints stops taking requests when the stop begins. Installed the
    // moment the fastify instance is created (on first use: fastify is loaded only then).
    server.whenCreated((instance) =>
      instance.addHook("onRoute", (route) => {
        this.markNeeded("routes");
        if (!this.reserved.has(withoutTrailingSlash(route.url))) server.intake.guard(route);
      }),
    );
    // fastify checks its own options when the instance is created: an app that passes some gets it
    // now, so that a bad one still throws here, in `new App`, rather than at its first HTTP route.
    if (Object.keys(resolved.fastify).length > 0) void server.instance;
  }

  /**
   * Makes `start()` listen even without an HTTP route: for features that serve their own endpoints
   * (health, metrics) or plugins. Idempotent.
   */
  markNeeded(reason: string): void {
    this.needs.add(reason);
  }

  /**
   * Claims `path` for one of weir's own endpoints (health, metrics): the server starts for it, and a
   * user route on that path, whatever its method, fails at registration with a `ReservedPathError`
   * naming `option`, rather than fastify's duplicate-route error or a route that silently wins.
   */
  reserve(path: string, owner: string, option: string): void {
    this.reserved.set(withoutTrailingSlash(path), { owner, option });
    this.markNeeded(owner);
  }

  /** `app.http`, whose shorthands register through `route` (the App's), not around it. */
  facade(route: RouteFunction): HTTPFacade {
    return createFacade(this.server, route, (reason) => this.markNeeded(reason));
  }

  register(record: RouteRecord): void {
    const route = normalizeHTTPRoute(record);
    for (const path of route.paths) {
      const claim = this.reserved.get(withoutTrailingSlash(path));
      if (claim !== undefined) throw new ReservedPathError(path, claim.owner, claim.option);
    }
    mountRoute(this.server.instance, route);
    this.routes.push(route);
  }

  needed(): boolean {
    return !this.injecting && this.needs.size > 0;
  }

  async start(): Promise<void> {
    await this.server.listen();
    this.logger.info({ url: this.server.address?.url, routes: this.routes.length }, "HTTP server listening");
  }

  /**
   * The user's routes stop taking requests, and this resolves once those already taken are answered
   * (or at the deadline). When weir serves its own endpoints (health, metrics), the socket stays open
   * for them until `closeLast`: a probe must see the drain, not a refused connection. Otherwise it
   * closes now.
   */
  stop(deadline: Deadline): Promise<void> {
    if (this.reserved.size === 0) return this.server.close(deadline);
    return this.server.stopIntake(deadline);
  }

  closeLast(deadline: Deadline): Promise<void> {
    return this.server.close(deadline);
  }

  /**
   * For weir/testing: requests go through fastify's `inject`, so the server never listens and no port
   * is opened, whatever needs it.
   */
  injectOnly(): void {
    this.injecting = true;
  }

  describe(record: RouteRecord): RouteDescription {
    const route = normalizeHTTPRoute(record);
    return {
      type: this.type,
      routes: route.paths,
      details: {
        methods: route.methods.join(","),
        auth: (record.spec as HTTPRouteSpec).auth ? true : undefined,
      },
    };
  }

  /** HTTP is request/response, not described by AsyncAPI: a note lists the paths. */
  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    const paths = records.flatMap((record) => {
      const route = normalizeHTTPRoute(record);
      return route.paths.map((path) => ({ path, methods: [...route.methods] }));
    });
    const text = paths.map((entry) => `${entry.methods.join(",")} ${entry.path}`).join("; ");
    builder.note(`The app also serves HTTP (request/response, not described here): ${text}.`);
    builder.document.info["x-weir-http"] = paths;
  }

  health(): TransportHealth {
    const ready = this.server.address !== undefined && !this.server.intake.closed;
    return {
      transport: this.type,
      ready,
      routes: this.routes.map((route) => ({
        name: route.name,
        ready,
        paths: route.paths,
        methods: route.methods,
      })),
    };
  }
}

/** `/metrics/` and `/metrics` reach the same handler when fastify ignores trailing slashes. */
function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}
