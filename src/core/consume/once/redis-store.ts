import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import type * as IORedis from "ioredis";
import type { Redis } from "ioredis";
import { InvalidOptionError } from "../../errors.js";
import { currentInspection } from "../../inspect.js";
import { knownKeys, nonEmptyString } from "../../validate.js";
import type { OnceClaim, OnceState, OnceStore } from "./store.js";

/** Options of {@link RedisOnceStore}. */
export interface RedisOnceStoreOptions {
  /**
   * An ioredis client (you own it: weir never closes it), or a Redis URL (weir connects, fails a
   * command fast during an outage instead of queueing it, and disconnects when the app stops).
   * @defaultValue `WEIR_REDIS_URL`, else "redis://127.0.0.1:6379"
   */
  redis?: Redis | string;
  /**
   * Prepended to every key, so several apps can share a Redis.
   * @defaultValue "weir:once:"
   */
  prefix?: string;
}

const DONE = "done";

/** Claims a free key in one step, so two workers can never both claim it. */
const CLAIM = `
local value = redis.call('GET', KEYS[1])
if not value then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'claimed'
end
if value == '${DONE}' then return 'done' end
return 'busy'
`;

/** Deletes the in-progress marker only if it is still ours (our lease may have expired meanwhile). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * A `once` store in Redis, shared by every worker that uses the same Redis and prefix: a duplicate
 * delivered to two workers at once is processed by one of them. A claim is an in-progress marker
 * with an expiry (the route's `lease`), so a worker killed mid-message blocks its key only that long.
 */
export class RedisOnceStore implements OnceStore {
  private readonly client: Redis;
  private readonly owned: boolean;
  private readonly prefix: string;
  /** This store's in-progress marker: release deletes only markers it wrote. */
  private readonly marker = `busy:${randomUUID()}`;
  private closing: Promise<void> | undefined;

  constructor(options: RedisOnceStoreOptions = {}) {
    knownKeys("RedisOnceStore", options, ["redis", "prefix"]);
    this.prefix = nonEmptyString("prefix", options.prefix, "weir:once:");
    const redis = options.redis ?? process.env.WEIR_REDIS_URL ?? "redis://127.0.0.1:6379";
    if (typeof redis === "string") {
      if (!/^rediss?:\/\//.test(redis)) {
        throw new InvalidOptionError("redis", "must be an ioredis client or a redis:// or rediss:// URL");
      }
      // A message waits on its claim: during an outage a command fails fast (the message is then
      // retried like a failure) rather than sitting in the offline queue.
      // lazyConnect while only reading routes: ioredis would otherwise connect right here, at import.
      // ioredis is required here, by a store that connects, not with weir (issue #16): an app
      // without a Redis store never loads it. It is CommonJS, so this constructor stays synchronous.
      const { Redis } = createRequire(import.meta.url)("ioredis") as typeof IORedis;
      this.client = new Redis(redis, {
        maxRetriesPerRequest: 1,
        commandTimeout: 5000,
        lazyConnect: currentInspection() !== undefined,
      });
      this.client.on("error", () => {
        // Reported per command (the message fails); the client reconnects by itself.
      });
      this.owned = true;
    } else {
      if (typeof redis !== "object" || redis === null || typeof redis.eval !== "function") {
        throw new InvalidOptionError("redis", "must be an ioredis client or a redis:// or rediss:// URL");
      }
      this.client = redis;
      this.owned = false;
    }
  }

  async claim(key: string, leaseMs: number): Promise<OnceClaim> {
    const answer = await this.client.eval(
      CLAIM,
      1,
      this.prefix + key,
      this.marker,
      Math.max(1, Math.ceil(leaseMs)),
    );
    return answer === "claimed" || answer === "done" ? answer : "busy";
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    await this.client.set(this.prefix + key, DONE, "PX", Math.max(1, Math.ceil(ttlMs)));
  }

  async release(key: string): Promise<void> {
    await this.client.eval(RELEASE, 1, this.prefix + key, this.marker);
  }

  async peek(key: string): Promise<OnceState> {
    const value = await this.client.get(this.prefix + key);
    return value === null ? "free" : value === DONE ? "done" : "busy";
  }

  /** Disconnects a client the store created; a client you passed is left open. */
  close(): Promise<void> {
    if (!this.owned) return Promise.resolve();
    this.closing ??= this.client.quit().then(
      () => {},
      () => this.client.disconnect(),
    );
    return this.closing;
  }
}
