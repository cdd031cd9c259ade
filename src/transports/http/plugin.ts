import type { TransportPlugin } from "../../core/transport.js";
import type { HTTPFacade } from "./facade.js";
import type { HTTPOptions } from "./options.js";
import type { HTTPHandler, HTTPRouteSpec } from "./route-spec.js";
import { HTTPTransport } from "./transport.js";

declare module "../../core/route-kinds.js" {
  interface RouteKinds<T> {
    /** An HTTP route: fastify's `(request, reply)`. */
    http: { spec: HTTPRouteSpec; handler: HTTPHandler };
  }
}

declare module "../../app.js" {
  interface AppOptions {
    /**
     * weir's HTTP server: where it listens. It starts only if the app has an HTTP route, a plugin, or
     * serves `observability` endpoints.
     */
    http?: HTTPOptions;
  }
  interface AppClients {
    /** weir's fastify server, for plugins and route shorthands. */
    readonly http: HTTPFacade;
  }
}

/** weir's HTTP server (fastify), registered by default. */
export const httpTransport: TransportPlugin<HTTPOptions, HTTPTransport> = {
  type: "http",
  create: (context, options) => new HTTPTransport(context, options),
};
