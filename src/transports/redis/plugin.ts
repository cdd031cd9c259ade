import type { TransportPlugin } from "../../core/transport.js";
import type { RedisClient } from "./client.js";
import type { RedisOptions } from "./options.js";
import type { RedisHandler, RedisRouteSpec } from "./route-spec.js";
import { RedisTransport } from "./transport.js";

declare module "../../core/route-kinds.js" {
  interface RouteKinds<T> {
    /** A Redis Streams route: streams read through a consumer group, bulks of entries to the handler. */
    redis: { spec: RedisRouteSpec<T>; handler: RedisHandler<T>; standardSchema: true };
  }
}

declare module "../../app.js" {
  interface AppOptions {
    /** The Redis server of `redis` routes and `app.redis` (Redis Streams). */
    redis?: RedisOptions;
  }
  interface AppClients {
    /** Redis Streams: `publish(body, { stream, maxLen })`, and the dead-letter streams. */
    readonly redis: RedisClient;
  }
}

/** The Redis Streams transport, registered by default; ioredis is loaded when it first connects. */
export const redisTransport: TransportPlugin<RedisOptions, RedisTransport> = {
  type: "redis",
  create: (context, options) => new RedisTransport(context, options),
};
