import { createHash } from "node:crypto";
import { WeirError } from "../errors.js";
import { RedeliveryCounter } from "../redelivery-counter.js";
import type { Delivery } from "./delivery.js";

/** Past `retry.maxAttempts` by redeliveries alone: dead-lettered without calling the handler. */
export class RedeliveryLimitError extends WeirError {
  constructor(attempts: number) {
    super(
      "WEIR_ERR_REDELIVERED",
      `delivered ${attempts} times without being settled (the broker's consumer timeout, a lost channel or a crash); retry.maxAttempts reached`,
    );
  }
}

/**
 * Redeliveries count toward a route's retry attempts. A delivery that never got settled (the
 * broker's consumer timeout closed its channel, the connection dropped, the worker died) comes back
 * without weir's retry path ever counting it, so a message that always outlives the consumer
 * timeout would loop forever. The broker's count is used where it keeps one (a quorum queue's
 * `x-delivery-count`, `Delivery.brokerRedeliveries()`); elsewhere (a classic queue only flags
 * `redelivered`) this process counts the redeliveries it sees, keyed by the sender's id, else by a
 * hash of the source and body.
 */
export class Redeliveries<D extends Delivery = Delivery> {
  private readonly counter = new RedeliveryCounter();
  /** The keys counted in process, per delivery, to forget once it has left the queue. */
  private readonly keys = new WeakMap<D, string>();

  /** How many times `delivery` was delivered before without being settled (0 the first time). */
  count(delivery: D, brokerCount: number | undefined): number {
    if (brokerCount !== undefined) return brokerCount;
    if (!delivery.redelivered) return 0;
    const key = keyOf(delivery);
    this.keys.set(delivery, key);
    return this.counter.seen(key);
  }

  /** `delivery` left the queue (acked or forwarded): its in-process count is done. */
  settled(delivery: D): void {
    const key = this.keys.get(delivery);
    if (key !== undefined) this.counter.forget(key);
  }
}

function keyOf(delivery: Delivery): string {
  const id = delivery.messageId;
  if (typeof id === "string" && id !== "") return `${delivery.source}\u0000id\u0000${id}`;
  return `${delivery.source}\u0000sha1\u0000${createHash("sha1").update(delivery.rawBytes).digest("base64")}`;
}
