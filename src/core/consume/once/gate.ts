import { Actions } from "../../constants.js";
import type { Logger } from "../../logger.js";
import { Sleeper } from "../../sleeper.js";
import type { Delivery } from "../delivery.js";
import { OnceStoreError } from "../errors.js";
import type { ResolvedOnce } from "./options.js";
import type { OnceState } from "./store.js";

/** What the gate let through, and what it held back. */
export interface OnceAdmission<D extends Delivery = Delivery> {
  /** Messages to hand to the handler: claimed, or without a key. */
  readonly ready: D[];
  /** Key of every claimed message: completed or released once the message is settled. */
  readonly claimed: Map<D, string>;
  /**
   * Messages whose key another delivery is processing right now (a duplicate in flight). Each
   * waits for that to end: acked if it succeeded, requeued otherwise.
   */
  readonly busy: Map<D, Promise<OnceState>>;
  /** Messages whose key could not be read (store or key function failed): they count as failed. */
  readonly failed: Array<{ message: D; error: unknown }>;
}

/** How long a duplicate waits for the delivery that holds its key, at most. */
const MAX_BUSY_WAIT_MS = 10_000;

/**
 * Once-only processing for one route (alfred's `once_time`). Before the handler: each message's key
 * is claimed (an in-progress marker with a lease); a key already done is a duplicate, acked without
 * the handler. After: a key whose message was acked becomes done for `ttl`; any other outcome
 * releases it, so a retry or a redelivery is processed.
 */
export class OnceGate<D extends Delivery = Delivery> {
  /** Messages acked as duplicates without calling the handler. */
  duplicates = 0;
  private readonly sleeper = new Sleeper();

  constructor(
    private readonly routeName: string,
    private readonly once: ResolvedOnce<D>,
    private readonly logger: Logger,
  ) {}

  async admit(messages: readonly D[]): Promise<OnceAdmission<D>> {
    const admission: OnceAdmission<D> = { ready: [], claimed: new Map(), busy: new Map(), failed: [] };
    const keys = messages.map((message) => this.keyOf(message, admission));
    const claims = await Promise.all(
      keys.map(async (key) => {
        if (key === undefined || key === null) return undefined;
        try {
          return await this.once.store.claim(key, this.once.lease);
        } catch (error) {
          return new OnceStoreError(error);
        }
      }),
    );
    messages.forEach((message, i) => {
      const key = keys[i];
      const claim = claims[i];
      if (key === null) return; // the key function threw: already in `failed`
      if (key === undefined || claim === "claimed") {
        if (key !== undefined) admission.claimed.set(message, key);
        admission.ready.push(message);
      } else if (claim === "done") {
        this.duplicates++;
        message.decision = Actions.ACK;
        this.logger.debug({ ...message.logFields(), key }, "duplicate acked without calling the handler");
      } else if (claim === "busy") {
        admission.busy.set(message, this.awaitKey(key));
      } else {
        admission.failed.push({ message, error: claim });
      }
    });
    return admission;
  }

  /** Marks the keys of acked messages done for `ttl`, releases the others. Never rejects. */
  async finish(claimed: ReadonlyMap<D, string>, acked: (message: D) => boolean): Promise<void> {
    const store = this.once.store;
    await Promise.all(
      [...claimed].map(async ([message, key]) => {
        try {
          if (acked(message)) await store.complete(key, this.once.ttl);
          else await store.release(key);
        } catch (error) {
          // The message's own outcome stands; only the dedup of a later duplicate is weakened.
          this.logger.warn({ err: error, ...message.logFields(), key }, "once store failed to record a key");
        }
      }),
    );
  }

  /** Wakes every waiting duplicate (it is requeued): called when the route stops. */
  stop(): void {
    this.sleeper.cancel();
  }

  /** The namespaced key of a message; undefined for "no dedup"; null when the key function threw. */
  private keyOf(message: D, admission: OnceAdmission<D>): string | undefined | null {
    let key: string | undefined;
    try {
      key = this.once.key(message);
    } catch (error) {
      admission.failed.push({ message, error });
      return null;
    }
    if (key === undefined) return undefined;
    return `${this.routeName}:${String(key)}`;
  }

  /** Polls the key (25 ms, doubling to 500 ms) until it is no longer in progress, or gives up. */
  private async awaitKey(key: string): Promise<OnceState> {
    const end = Date.now() + Math.min(this.once.lease, MAX_BUSY_WAIT_MS);
    let pause = 25;
    while (Date.now() < end) {
      if (!(await this.sleeper.sleep(pause))) return "busy";
      pause = Math.min(pause * 2, 500);
      try {
        const state = await this.once.store.peek(key);
        if (state !== "busy") return state;
      } catch {
        return "busy";
      }
    }
    return "busy";
  }
}
