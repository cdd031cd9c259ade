import type { Delivery } from "../delivery.js";

/** What a claim found: the key is now ours to process, was processed already, or is being processed. */
export type OnceClaim = "claimed" | "done" | "busy";

/** What a key looks like, without claiming it. */
export type OnceState = "free" | "done" | "busy";

/**
 * Where a route's `once` dedup keeps its keys. A key is *in progress* while a worker processes the
 * message (a marker that expires after the lease, so a crashed worker does not block the key
 * forever), then *done* for the route's `ttl`. Implement it to keep keys elsewhere (a database).
 */
export interface OnceStore {
  /**
   * Atomically: when `key` is neither done nor in progress, marks it in progress for `leaseMs` and
   * answers `"claimed"`; otherwise answers `"done"` or `"busy"`.
   */
  claim(key: string, leaseMs: number): Promise<OnceClaim>;
  /** Marks `key` processed for `ttlMs`: a message with this key is acked unseen until then. */
  complete(key: string, ttlMs: number): Promise<void>;
  /** Frees a key this store claimed whose processing failed, so a redelivery can process it. */
  release(key: string): Promise<void>;
  /** Reads a key's state without claiming it. */
  peek(key: string): Promise<OnceState>;
  /** Releases what the store owns; called once per store when the app stops. */
  close?(): Promise<void>;
}

/**
 * `once` in a route (alfred's `once_time`): skip messages processed recently. `M` is the transport's
 * message type (`AMQPMessage<T>`, `SSEEvent<T>`), which the key function receives.
 */
export interface OnceOptions<T = unknown, M extends Delivery<T> = Delivery<T>> {
  /**
   * How long (ms) a processed key makes its duplicates be acked without calling the handler.
   * Required.
   */
  ttl: number;
  /**
   * The dedup key of a message (it sees the body after the route's schema). Return `undefined` to
   * process a message without dedup.
   * @defaultValue the sender's id (AMQP `messageId`, SSE `id:`), else a SHA-256 of the raw body
   */
  key?(message: M): string | undefined;
  /**
   * Where keys live. Share a `RedisOnceStore` between workers to dedup across them.
   * @defaultValue a `MemoryOnceStore` of this route (100,000 keys, this process only)
   */
  store?: OnceStore;
  /**
   * How long (ms) a key stays *in progress* while its message is processed. A worker that dies
   * mid-message blocks the key for at most this long; set it above your slowest handler call.
   * @defaultValue 60000
   */
  lease?: number;
}
