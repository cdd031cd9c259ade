/**
 * Counts the redeliveries this process has seen of each message, for brokers and queue types that
 * flag a redelivery without counting it (a RabbitMQ classic queue sets `redelivered`; a quorum
 * queue counts for itself in `x-delivery-count`, which wins where it exists).
 *
 * Bounded: the oldest key is forgotten first once `limit` keys are held, so a flood of distinct
 * redelivered messages cannot grow it. It is a safety net against a message that keeps coming
 * back without its handler ever settling it (the broker's consumer timeout, a lost channel): the
 * process that sees the loop counts it. A worker that crashes on the message restarts at 0, which
 * is why a broker-side count, where there is one, is preferred.
 */
export class RedeliveryCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly limit = 10_000) {}

  /** Records one more redelivery of `key`; returns how many this process has seen. */
  seen(key: string): number {
    const count = (this.counts.get(key) ?? 0) + 1;
    // Re-inserted so the Map's insertion order is least recently seen first.
    this.counts.delete(key);
    this.counts.set(key, count);
    if (this.counts.size > this.limit) {
      const oldest = this.counts.keys().next().value;
      if (oldest !== undefined) this.counts.delete(oldest);
    }
    return count;
  }

  /** Forgets `key` once its message left the queue (settled, forwarded). */
  forget(key: string): void {
    this.counts.delete(key);
  }

  get size(): number {
    return this.counts.size;
  }
}
