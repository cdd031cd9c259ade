import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { InvalidOptionError } from "../core/errors.js";
import { duration, knownKeys, nonEmptyString, positiveInteger } from "../core/validate.js";
import { LockLostError, LockTimeoutError } from "./lock-errors.js";
import { EXTEND_SCRIPT, RELEASE_SCRIPT } from "./lock-scripts.js";

export { LockLostError, LockTimeoutError } from "./lock-errors.js";

/**
 * Where a lock or a scheduler gets its Redis connection: called before each command, so it may open
 * the connection on first use (`RedisConnection.client`) or return one the app already holds.
 */
export type RedisSource = () => Promise<Redis> | Redis;

/** Options of `new Lock(redis, name, options)`. */
export interface LockOptions {
  /**
   * ms the lock is held before it expires by itself, an integer, required: the bound on how long a
   * crashed owner blocks everyone else. `extend()` (or `lock.using`, by itself) renews it.
   */
  ttl: number;
  /**
   * ms `acquire()` keeps trying while another owner holds the lock; `0` tries once.
   * @defaultValue 0
   */
  wait?: number;
  /**
   * ms between two tries of `acquire()`.
   * @defaultValue 50
   */
  retryDelay?: number;
}

/** Options of one `acquire()` or `using()`. */
export interface AcquireOptions {
  /** ms to keep trying; overrides the lock's `wait` for this call. */
  wait?: number;
  /** Stops the waiting: the call rejects with the signal's reason, holding nothing. */
  signal?: AbortSignal;
}

/** The lock, held: one owner's hold of it, under a random token only this handle knows. */
export interface LockHandle {
  /** The lock's name (without the key prefix). */
  readonly name: string;
  /** This owner's random token, the value of the lock's key while it holds it. */
  readonly token: string;
  /**
   * When the hold ends unless extended, epoch ms, by this process's clock; counted from before the
   * command was sent, so it is never later than Redis's own expiry.
   */
  readonly expiresAt: number;
  /**
   * Renews the hold for `ttl` ms from now (default: the lock's `ttl`).
   * @throws LockLostError `WEIR_ERR_LOCK_LOST` if the lock expired or was released first
   * @throws InvalidOptionError `WEIR_ERR_INVALID_OPTION` for a `ttl` that is not an integer >= 1
   */
  extend(ttl?: number): Promise<void>;
  /**
   * Gives the lock up. A second `release()` of the same handle does nothing.
   * @throws LockLostError `WEIR_ERR_LOCK_LOST` if the lock had expired (another owner may hold it; it is left alone)
   */
  release(): Promise<void>;
}

const LOCK_KEYS = ["ttl", "wait", "retryDelay"];
const ACQUIRE_KEYS = ["wait", "signal"];
/** Longest ttl a timer can count (`setTimeout` turns more into 1 ms), ~24.8 days. */
const MAX_TTL = 2 ** 31 - 1;

function ttlOption(option: string, value: unknown): number {
  const ttl = positiveInteger(option, value, 0);
  if (ttl > MAX_TTL) throw new InvalidOptionError(option, `must be at most ${MAX_TTL} ms, got ${ttl}`);
  return ttl;
}

/**
 * A mutex on Redis shared by every process that names the same lock: at most one handle holds it at
 * a time, its owner alone can release or extend it, and it expires by itself `ttl` ms after the last
 * acquire or extend, so an owner that crashed blocks others for at most `ttl`. The key is
 * `<keyPrefix><name>` (default `weir:lock:<name>`).
 *
 * The guarantee is that of one Redis server: if Redis loses the key (a failover to a replica that
 * had not received it, a restart without persistence), two owners can overlap. A holder that may run
 * past its ttl should use `using()` (which extends by itself and aborts on a loss) or check
 * `extend()`'s result before acting.
 */
export class Lock {
  /** The lock's name. */
  readonly name: string;
  /** The Redis key: `<keyPrefix><name>`. */
  readonly key: string;
  private readonly ttl: number;
  private readonly wait: number;
  private readonly retryDelay: number;

  /**
   * @param redis where the connection comes from (called per command)
   * @param name the lock's name; every process using the same name (and prefix) shares the lock
   * @param options `ttl` (required), `wait`, `retryDelay`, all in ms
   * @param keyPrefix prepended to `name` for the key
   * @throws InvalidOptionError `WEIR_ERR_INVALID_OPTION` for an empty name, a missing or bad `ttl`, a bad `wait` or `retryDelay`, or an unknown option
   */
  constructor(
    private readonly redis: RedisSource,
    name: string,
    options: LockOptions,
    keyPrefix = "weir:lock:",
  ) {
    if (typeof redis !== "function")
      throw new InvalidOptionError("redis", "must be a function returning a Redis client");
    this.name = nonEmptyString("name", name);
    if (typeof options !== "object" || options === null) {
      throw new InvalidOptionError("lock", "needs options like { ttl }");
    }
    knownKeys("lock", options, LOCK_KEYS);
    if (options.ttl === undefined) throw new InvalidOptionError("ttl", "is required (ms)");
    this.ttl = ttlOption("ttl", options.ttl);
    this.wait = duration("wait", options.wait, 0, 0);
    this.retryDelay = duration("retryDelay", options.retryDelay, 50, 1);
    this.key = `${keyPrefix}${this.name}`;
  }

  /** Tries once: the handle if the lock was free, else `undefined`. */
  async tryAcquire(): Promise<LockHandle | undefined> {
    const token = randomBytes(16).toString("hex");
    const client = await this.redis();
    const sentAt = Date.now();
    const reply = await client.set(this.key, token, "PX", this.ttl, "NX");
    if (reply !== "OK") return undefined;
    return new RedisLockHandle(this.redis, this.name, this.key, token, this.ttl, sentAt + this.ttl);
  }

  /**
   * Takes the lock, trying every `retryDelay` ms for up to `wait` ms while another owner holds it.
   * @throws LockTimeoutError `WEIR_ERR_LOCK_TIMEOUT` when `wait` passed with the lock still held by another
   * @throws the signal's reason when `signal` aborts first
   */
  async acquire(options?: AcquireOptions): Promise<LockHandle> {
    knownKeys("acquire", options, ACQUIRE_KEYS);
    const wait = duration("wait", options?.wait, this.wait, 0);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const start = Date.now();
    for (;;) {
      const handle = await this.tryAcquire();
      if (handle !== undefined) {
        if (signal?.aborted) {
          // Taken as the caller gave up: hand it back rather than hold it until the ttl.
          await handle.release().catch(() => {});
          signal.throwIfAborted();
        }
        return handle;
      }
      // Bounded by time: the last try is at (or just after) the deadline.
      const left = start + wait - Date.now();
      if (left <= 0) throw new LockTimeoutError(this.name, Date.now() - start);
      signal?.throwIfAborted();
      await sleep(Math.min(this.retryDelay, left), signal);
    }
  }

  /**
   * Runs `fn` holding the lock, then releases it. While `fn` runs the hold is extended by `ttl`
   * every `ttl / 3` ms; if an extension finds the lock lost (or Redis stays unreachable until the
   * hold ran out), `fn`'s signal is aborted with a `LockLostError`. Resolves with `fn`'s value.
   * @throws LockTimeoutError `WEIR_ERR_LOCK_TIMEOUT` as `acquire`, before `fn` runs
   * @throws LockLostError `WEIR_ERR_LOCK_LOST` if the lock was lost while `fn` ran (even if `fn` resolved: another owner may have run beside it), with `fn`'s error as `cause` when it failed
   * @throws `fn`'s error otherwise, once the lock is released
   */
  async using<R>(
    fn: (handle: LockHandle, signal: AbortSignal) => Promise<R>,
    options?: AcquireOptions,
  ): Promise<R> {
    if (typeof fn !== "function") throw new InvalidOptionError("fn", "must be a function");
    const handle = await this.acquire(options);
    const keeper = new HoldKeeper(handle, this.ttl, options?.signal);
    let result: R | undefined;
    let failed = false;
    let failure: unknown;
    try {
      result = await fn(handle, keeper.signal);
    } catch (error) {
      failed = true;
      failure = error;
    }
    const lost = await keeper.stop();
    if (lost !== undefined) {
      throw new LockLostError(this.name, `lock "${this.name}" was lost while its function ran`, {
        cause: failed ? failure : lost,
      });
    }
    try {
      await handle.release();
    } catch (error) {
      // fn's own error says more than a release that failed after it.
      if (!failed) throw error;
    }
    if (failed) throw failure;
    return result as R;
  }
}

/** One hold of the lock; `release` and `extend` act only while the key still holds its token. */
class RedisLockHandle implements LockHandle {
  private released = false;

  constructor(
    private readonly redis: RedisSource,
    readonly name: string,
    private readonly key: string,
    readonly token: string,
    private readonly ttl: number,
    public expiresAt: number,
  ) {}

  async extend(ttl?: number): Promise<void> {
    const ms = ttl === undefined ? this.ttl : ttlOption("ttl", ttl);
    if (this.released) throw new LockLostError(this.name, `lock "${this.name}" was released by this handle`);
    const client = await this.redis();
    const sentAt = Date.now();
    const extended = await client.eval(EXTEND_SCRIPT, 1, this.key, this.token, ms);
    if (extended !== 1) throw new LockLostError(this.name);
    this.expiresAt = sentAt + ms;
  }

  async release(): Promise<void> {
    if (this.released) return;
    const client = await this.redis();
    const deleted = await client.eval(RELEASE_SCRIPT, 1, this.key, this.token);
    this.released = true;
    if (deleted !== 1) throw new LockLostError(this.name);
  }
}

/**
 * Keeps a hold alive for `lock.using`: extends it every ttl/3 (so two extensions can fail before it
 * runs out) and aborts `signal` once it is lost. One extension at a time: a slow Redis does not pile
 * them up, and a hold whose extension has not come back by its expiry counts as lost.
 */
class HoldKeeper {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> | undefined;
  private lost: LockLostError | undefined;
  private readonly onOuterAbort: (() => void) | undefined;

  constructor(
    private readonly handle: LockHandle,
    ttl: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(ttl / 3)));
    // The holder's own work keeps the process alive, not the bookkeeping.
    this.timer.unref();
    if (outer !== undefined) {
      this.onOuterAbort = () => this.controller.abort(outer.reason);
      outer.addEventListener("abort", this.onOuterAbort, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private tick(): void {
    if (this.lost !== undefined) return;
    if (this.inFlight !== undefined) {
      if (Date.now() >= this.handle.expiresAt) {
        this.markLost(
          new LockLostError(
            this.handle.name,
            `lock "${this.handle.name}" expired: Redis did not answer its extension in time`,
          ),
        );
      }
      return;
    }
    this.inFlight = this.handle
      .extend()
      .catch((error: unknown) => {
        if (error instanceof LockLostError) this.markLost(error);
        else if (Date.now() >= this.handle.expiresAt) {
          this.markLost(new LockLostError(this.handle.name, undefined, { cause: error }));
        }
        // Else Redis is unreachable for now and the hold has time left: the next tick tries again.
      })
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  private markLost(error: LockLostError): void {
    this.lost = error;
    clearInterval(this.timer);
    this.controller.abort(error);
  }

  /** Stops extending, once any extension in flight has settled; the loss, if there was one. */
  async stop(): Promise<LockLostError | undefined> {
    clearInterval(this.timer);
    if (this.onOuterAbort !== undefined) this.outer?.removeEventListener("abort", this.onOuterAbort);
    await this.inFlight;
    return this.lost;
  }
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
