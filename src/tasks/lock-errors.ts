import { WeirError } from "../core/errors.js";

/**
 * `lock.acquire()` gave up: another owner held the lock for the whole `wait` (`WEIR_ERR_LOCK_TIMEOUT`).
 * `lock` is the lock's name, `waited` the ms spent trying.
 */
export class LockTimeoutError extends WeirError {
  constructor(
    readonly lock: string,
    readonly waited: number,
  ) {
    super("WEIR_ERR_LOCK_TIMEOUT", `lock "${lock}" is held by another owner; gave up after ${waited} ms`);
  }
}

/**
 * The lock is no longer this handle's (`WEIR_ERR_LOCK_LOST`): it expired (its ttl passed without an
 * `extend`), and perhaps another owner has taken it since. Thrown by `extend()` and `release()`, and
 * by `lock.using()` when the lock was lost while its function ran.
 */
export class LockLostError extends WeirError {
  constructor(
    readonly lock: string,
    message = `lock "${lock}" is no longer held by this owner (it expired, and may have been taken by another)`,
    options?: { cause?: unknown },
  ) {
    super("WEIR_ERR_LOCK_LOST", message, options);
  }
}
