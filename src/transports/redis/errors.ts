import { StartError } from "../../core/errors.js";

/**
 * A route's stream or consumer group cannot be used: the key holds something else than a stream
 * (`WRONGTYPE`), the server is older than Redis 6.2 (no `XAUTOCLAIM`), or it refused the group.
 * Thrown by `start()`; the original reply is the `cause`.
 */
export class RedisStreamError extends StartError {
  constructor(stream: string, group: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "WEIR_ERR_REDIS_STREAM",
      `cannot read the Redis stream "${stream}" as group "${group}": ${reason}`,
      { cause },
    );
  }
}
