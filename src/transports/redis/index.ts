/**
 * `weir/redis`: the Redis Streams transport's public API (its plugin, route spec and handler types,
 * messages, client and errors). The root `weir` exports all of it too. Importing it does not load
 * ioredis: that happens when the transport first connects.
 */
export type { RedisClient, RedisDeadLetter, RedisPublishOptions } from "./client.js";
export { RedisStreamError } from "./errors.js";
export { RedisFields } from "./fields.js";
export { RedisMessage } from "./message.js";
export type { RedisOptions } from "./options.js";
export { redisTransport } from "./plugin.js";
export type { RedisHandler, RedisRetryOptions, RedisRouteOptions, RedisRouteSpec } from "./route-spec.js";
