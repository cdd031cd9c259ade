import { knownKeys, positiveInteger } from "../../validate.js";
import type { OnceClaim, OnceState, OnceStore } from "./store.js";

/** Options of {@link MemoryOnceStore}. */
export interface MemoryOnceStoreOptions {
  /**
   * How many keys the store holds at most; past it the least recently used key is forgotten (its
   * duplicates are then processed again). Bounded, so a stream of unique keys cannot eat the heap.
   * @defaultValue 100000
   */
  maxEntries?: number;
}

interface Entry {
  done: boolean;
  expiresAt: number;
}

/**
 * A `once` store in this process's memory: an LRU bounded to `maxEntries`, each key with its own
 * expiry. It dedups within one worker only; share a `RedisOnceStore` to dedup across workers.
 */
export class MemoryOnceStore implements OnceStore {
  /** A Map iterates in insertion order: re-inserting on use keeps the least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;

  constructor(options: MemoryOnceStoreOptions = {}) {
    knownKeys("MemoryOnceStore", options, ["maxEntries"]);
    this.maxEntries = positiveInteger("maxEntries", options.maxEntries, 100_000);
  }

  /** Keys held right now (expired ones included until they are swept). */
  get size(): number {
    return this.entries.size;
  }

  claim(key: string, leaseMs: number): Promise<OnceClaim> {
    const entry = this.live(key);
    if (entry !== undefined) return Promise.resolve(entry.done ? "done" : "busy");
    this.set(key, false, leaseMs);
    return Promise.resolve("claimed");
  }

  complete(key: string, ttlMs: number): Promise<void> {
    this.set(key, true, ttlMs);
    return Promise.resolve();
  }

  release(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry !== undefined && !entry.done) this.entries.delete(key);
    return Promise.resolve();
  }

  peek(key: string): Promise<OnceState> {
    const entry = this.live(key);
    return Promise.resolve(entry === undefined ? "free" : entry.done ? "done" : "busy");
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= Date.now()) return undefined;
    this.entries.set(key, entry);
    return entry;
  }

  private set(key: string, done: boolean, ttlMs: number): void {
    const now = Date.now();
    this.entries.delete(key);
    this.entries.set(key, { done, expiresAt: now + ttlMs });
    // Sweep expired keys from the old end (cheap: it stops at the first live one), then evict the
    // least recently used while over the bound.
    for (const [oldest, entry] of this.entries) {
      if (entry.expiresAt > now && this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}
