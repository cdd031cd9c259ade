import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys, positiveInteger } from "../../core/validate.js";

/** The default Redis, when neither the app's options nor `WEIR_REDIS_URL` name one. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** `redis` in `new App({ redis })`: the Redis server of every `redis` route and of `app.redis`. */
export interface RedisOptions {
  /**
   * The server, `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). The password is
   * never logged.
   * @defaultValue `WEIR_REDIS_URL`, else "redis://127.0.0.1:6379"
   */
  url?: string;
  /**
   * Entries a route may hold unsettled at once, for every `redis` route that does not set its own
   * `prefetch` (a route's own wins), as `amqp.prefetch` is for AMQP routes.
   * @defaultValue 128 (a route's default)
   */
  prefetch?: number;
}

export interface ResolvedRedisOptions {
  readonly url: string;
  /** The app's default for a route's `prefetch` (undefined: the route's own default). */
  readonly prefetch: number | undefined;
}

export function resolveRedisOptions(options: RedisOptions | undefined): ResolvedRedisOptions {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new InvalidOptionError("redis", `must be an object like { url }, got ${String(options)}`);
  }
  knownKeys("redis", options, ["url", "prefetch"]);
  const url = options?.url ?? process.env.WEIR_REDIS_URL ?? DEFAULT_REDIS_URL;
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    throw new InvalidOptionError("redis.url", `must be a redis:// or rediss:// URL, got ${String(url)}`);
  }
  const prefetch =
    options?.prefetch === undefined ? undefined : positiveInteger("redis.prefetch", options.prefetch, 1);
  return { url, prefetch };
}
