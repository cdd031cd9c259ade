import { InvalidOptionError } from "../../errors.js";
import { duration, knownKeys } from "../../validate.js";
import type { Delivery } from "../delivery.js";
import { defaultOnceKey } from "./key.js";
import { MemoryOnceStore } from "./memory-store.js";
import type { OnceOptions, OnceStore } from "./store.js";

/** `once` with its defaults applied. */
export interface ResolvedOnce<D extends Delivery = Delivery> {
  readonly ttl: number;
  readonly lease: number;
  readonly key: (message: D) => string | undefined;
  readonly store: OnceStore;
}

const STORE_METHODS = ["claim", "complete", "release", "peek"] as const;

/** Checks a route's `once` option, at registration, and applies its defaults. */
export function onceOption<D extends Delivery>(value: unknown): ResolvedOnce<D> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError("once", `must be an object like { ttl }, got ${String(value)}`);
  }
  knownKeys("once", value, ["ttl", "key", "store", "lease"]);
  const given = value as OnceOptions;
  if (given.ttl === undefined) throw new InvalidOptionError("once.ttl", "is required (ms)");
  const key = given.key ?? defaultOnceKey;
  if (typeof key !== "function")
    throw new InvalidOptionError("once.key", "must be a function of the message");
  const store = given.store ?? new MemoryOnceStore();
  for (const method of STORE_METHODS) {
    if (typeof (store as unknown as Record<string, unknown>)[method] !== "function") {
      throw new InvalidOptionError("once.store", `must implement OnceStore (no ${method} method)`);
    }
  }
  return {
    ttl: duration("once.ttl", given.ttl, 0),
    lease: duration("once.lease", given.lease, 60_000),
    key: key as (message: D) => string | undefined,
    store,
  };
}
