import type { Redis } from "ioredis";
import { createDefaultLogger, type Logger } from "../core/logger.js";
import { RedisLink } from "../transports/redis/link.js";
import { type RedisOptions, resolveRedisOptions } from "../transports/redis/options.js";

/**
 * One Redis connection for locks and schedules used outside an app, opened on first use: the URL is
 * read as the app's `redis` option is (`url`, else `WEIR_REDIS_URL`, else
 * `redis://127.0.0.1:6379`), and the connection reconnects by itself as the Redis transport's
 * does. Pass `connection.client` as a `Lock`'s or a `Scheduler`'s `redis`; `close()` when done.
 */
export class RedisConnection {
  private readonly link: RedisLink;

  /**
   * @throws InvalidOptionError `WEIR_ERR_INVALID_OPTION` for a URL that is not `redis://` or `rediss://`, or an unknown option
   */
  constructor(options?: RedisOptions, logger: Logger = createDefaultLogger("weir")) {
    const { url } = resolveRedisOptions(options);
    this.link = new RedisLink(url, "tasks", logger);
  }

  /** The connection, connected (the first call connects; a failed connect is tried again by the next). */
  readonly client = (): Promise<Redis> => this.link.commands();

  /** Closes the connection (`QUIT`, else a disconnect). */
  close(): Promise<void> {
    return this.link.close();
  }
}
