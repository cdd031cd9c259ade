import type { FastifyInstance, RouteHandlerMethod } from "fastify";
import { authorizationHook } from "./auth/authorizer.js";
import { DuplicateRouteError, HTTPRouteError } from "./errors.js";
import type { HTTPRoute } from "./route-spec.js";

/** `/users/:id` and `/users/:name` are the same route to fastify's router, so they share a key. */
function routeKey(method: string, path: string): string {
  return `${method} ${path.replace(/:[A-Za-z0-9_]+/g, ":")}`;
}

/**
 * Adds a route to fastify at registration, not at start: fastify's router then reports a clash
 * where the user wrote it. Every path × method is checked before any is added, so a refused route
 * leaves nothing half-registered behind.
 */
export function mountRoute(server: FastifyInstance, route: HTTPRoute): void {
  const claimed = new Set<string>();
  for (const path of route.paths) {
    for (const method of route.methods) {
      const key = routeKey(method, path);
      if (claimed.has(key) || server.hasRoute({ method, url: path }))
        throw new DuplicateRouteError(method, path);
      claimed.add(key);
    }
  }
  for (const path of route.paths) {
    try {
      server.route({
        method: [...route.methods],
        url: path,
        // A route that lists HEAD itself answers it; fastify would otherwise add a clashing one.
        exposeHeadRoute: !route.methods.includes("HEAD"),
        ...(route.schema !== undefined && { schema: route.schema }),
        ...(route.auth !== undefined && { onRequest: authorizationHook(route.auth) }),
        handler: route.handler as RouteHandlerMethod,
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === "FST_ERR_DUPLICATED_ROUTE") {
        throw new DuplicateRouteError(route.methods.join(","), path, { cause: error });
      }
      throw new HTTPRouteError(`fastify refused the route ${route.name}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
