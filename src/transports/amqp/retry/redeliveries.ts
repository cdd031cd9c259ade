import { createHash } from "node:crypto";
import { WeirError } from "../../../core/errors.js";
import { RedeliveryCounter } from "../../../core/redelivery-counter.js";
import type { AMQPMessage } from "../message.js";

/**
 * Redeliveries count toward a route's retry attempts. A delivery that never got settled (the
 * broker's consumer timeout closed its channel, the connection dropped, the worker died) comes back
 * without weir's retry path ever counting it, so a message that always outlives the consumer
 * timeout would loop forever. The broker's count is used where the queue type keeps one (a quorum
 * queue's `x-delivery-count`); elsewhere (a classic queue only flags `redelivered`) this process
 * counts the redeliveries it sees, keyed by `messageId`, else by a hash of the queue and body.
 */
export const DELIVERY_COUNT_HEADER = "x-delivery-count";

/** Past `retry.maxAttempts` by redeliveries alone: dead-lettered without calling the handler. */
export class RedeliveryLimitError extends WeirError {
  constructor(attempts: number) {
    super(
      "WEIR_ERR_REDELIVERED",
      `delivered ${attempts} times without being settled (the broker's consumer timeout, a lost channel or a crash); retry.maxAttempts reached`,
    );
  }
}

export class Redeliveries {
  private readonly counter = new RedeliveryCounter();
  /** The keys counted in process, per message, to forget once the message has left the queue. */
  private readonly keys = new WeakMap<AMQPMessage, string>();

  /** How many times `message` was delivered before without being settled (0 the first time). */
  count(message: AMQPMessage): number {
    const brokerCount = message.properties.headers?.[DELIVERY_COUNT_HEADER];
    if (typeof brokerCount === "number" && Number.isSafeInteger(brokerCount) && brokerCount >= 0)
      return brokerCount;
    if (!message.redelivered) return 0;
    const key = keyOf(message);
    this.keys.set(message, key);
    return this.counter.seen(key);
  }

  /** `message` left the queue (acked or forwarded): its in-process count is done. */
  settled(message: AMQPMessage): void {
    const key = this.keys.get(message);
    if (key !== undefined) this.counter.forget(key);
  }
}

function keyOf(message: AMQPMessage): string {
  const id = message.properties.messageId;
  if (typeof id === "string" && id !== "") return `${message.queue}\u0000id\u0000${id}`;
  return `${message.queue}\u0000sha1\u0000${createHash("sha1").update(message.raw).digest("base64")}`;
}
