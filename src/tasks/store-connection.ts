import type { Redis, RedisOptions } from "ioredis";

/** The ioredis module, imported on first use: an app without tasks never loads it. */
let ioredis: Promise<typeof Redis> | undefined;

/**
 * Opens a connection for the task store. Unlike a Redis route's connections, a command does not
 * wait for Redis forever: after 3 reconnect attempts it fails (`delay` and `result` reject with
 * `WEIR_ERR_TASK_STORE` rather than hang while Redis is away); the connection keeps reconnecting.
 */
export async function openRedis(url: string, name: string): Promise<Redis> {
  ioredis ??= import("ioredis").then((module) => module.Redis);
  const RedisClient = await ioredis;
  const options: RedisOptions = {
    connectionName: name.replace(/\s/g, "_"),
    protocol: 2,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => Math.min(2_000, 50 * 2 ** Math.min(times, 6)),
    lazyConnect: true,
  };
  const client = new RedisClient(url, options);
  // ioredis reconnects by itself; an error event without a listener would crash the process.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw error;
  }
  return client;
}

/** Closes a store connection the way the Redis transport closes its own. */
export { quit as closeRedis } from "../transports/redis/link.js";
