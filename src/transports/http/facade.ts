import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyPluginCallback,
  FastifyPluginOptions,
} from "fastify";
import { RouteTypes } from "../../core/constants.js";
import { LifecycleError } from "../../core/errors.js";
import { knownKeys } from "../../core/validate.js";
import type { HTTPHandler, HTTPMethod, HTTPRouteSpec } from "./route-spec.js";
import type { HTTPAddress, HTTPServer } from "./server.js";

/** What a shorthand such as `app.http.get(path, options, handler)` accepts besides the path. */
export type HTTPShorthandOptions = Omit<HTTPRouteSpec, "type" | "methods">;

/** `app.http.get(...)` and friends: `app.route` with the type and one method filled in. */
export interface HTTPShorthand {
  (routes: string | readonly string[], handler: HTTPHandler): HTTPHandler;
  (routes: string | readonly string[], options: HTTPShorthandOptions, handler: HTTPHandler): HTTPHandler;
}

/** A fastify plugin, as `app.http.register` takes it. */
export type HTTPPlugin<O extends FastifyPluginOptions = FastifyPluginOptions> =
  | FastifyPluginCallback<O>
  | FastifyPluginAsync<O>;

/** `app.http`: weir's fastify server, its address, and route shorthands. */
export interface HTTPFacade {
  /**
   * weir's fastify instance, for decorators, hooks and plugins. weir listens in `start()` and closes
   * in `stop()`: do not call `listen()` or `close()` on it yourself. Created (and fastify loaded) on
   * first access, or by the first HTTP route, plugin or endpoint.
   */
  readonly server: FastifyInstance;
  /** Where the server listens, once `start()` has resolved (the real port when `port` was 0). */
  readonly address: HTTPAddress | undefined;
  /** `address.url`, e.g. `http://127.0.0.1:8080`; `undefined` before start and after stop. */
  readonly url: string | undefined;
  /**
   * Registers a fastify plugin (before `start()`). An app that registers one serves HTTP, so the
   * server starts even without an HTTP route of its own.
   */
  register<O extends FastifyPluginOptions>(plugin: FastifyPluginAsync<O>, options?: O): HTTPFacade;
  register<O extends FastifyPluginOptions>(plugin: FastifyPluginCallback<O>, options?: O): HTTPFacade;
  readonly get: HTTPShorthand;
  readonly post: HTTPShorthand;
  readonly put: HTTPShorthand;
  readonly patch: HTTPShorthand;
  readonly delete: HTTPShorthand;
  readonly head: HTTPShorthand;
  readonly options: HTTPShorthand;
}

/** How the facade adds a route: through `app.route`, so every route goes through one check. */
export type RouteFunction = (routes: string[], spec: HTTPRouteSpec, handler: HTTPHandler) => void;

export function createFacade(
  server: HTTPServer,
  route: RouteFunction,
  markNeeded: (reason: string) => void,
): HTTPFacade {
  const shorthand = (method: HTTPMethod): HTTPShorthand =>
    ((
      routes: string | readonly string[],
      second: HTTPShorthandOptions | HTTPHandler,
      third?: HTTPHandler,
    ) => {
      const [options, handler] = typeof second === "function" ? [{}, second] : [second ?? {}, third];
      knownKeys(`http.${method.toLowerCase()}`, options, ["schema", "auth"]);
      const paths = typeof routes === "string" ? [routes] : [...routes];
      route(paths, { ...options, type: RouteTypes.HTTP, methods: [method] }, handler as HTTPHandler);
      return handler;
    }) as HTTPShorthand;

  const facade: HTTPFacade = {
    // A getter: the instance, and fastify with it, is created on first use (issue #16).
    get server() {
      return server.instance;
    },
    get address() {
      return server.address;
    },
    get url() {
      return server.address?.url;
    },
    register(plugin: HTTPPlugin, options?: FastifyPluginOptions) {
      if (server.started) {
        throw new LifecycleError("WEIR_ERR_APP_STARTED", "plugins must be registered before start()");
      }
      markNeeded("plugins");
      void server.instance.register(plugin as FastifyPluginCallback, options ?? {});
      return facade;
    },
    get: shorthand("GET"),
    post: shorthand("POST"),
    put: shorthand("PUT"),
    patch: shorthand("PATCH"),
    delete: shorthand("DELETE"),
    head: shorthand("HEAD"),
    options: shorthand("OPTIONS"),
  };
  return facade;
}
