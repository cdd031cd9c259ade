/**
 * The QoS of a route's consumers. RabbitMQ has two kinds of prefetch: per consumer (`basic.qos`
 * with `global: false`, applied to each consumer started after it on the channel) and channel-wide
 * (`global: true`). Quorum and stream queues refuse a consumer on a channel with a channel-wide
 * prefetch, and not politely: a connection-level 540 NOT_IMPLEMENTED that closes the connection
 * every route and the publisher of the vhost share. Stream queues also refuse a consumer without a
 * per-consumer prefetch (406).
 *
 * So every consumer gets a per-consumer prefetch, which every queue type accepts, and the route's
 * `prefetch` is split across its queues: the shares add up to exactly `prefetch`, so the route's
 * unacked messages stay bounded by it across all its queues, as before. A route over one queue
 * gets the whole prefetch on it, as before.
 */

/**
 * `prefetch` split over `queues` consumers: floor(prefetch / queues) each, the remainder one by one
 * to the first queues. Never 0 (a per-consumer prefetch of 0 means unlimited): with fewer prefetch
 * slots than queues each queue gets 1, and the bound is the number of queues.
 */
export function prefetchShares(prefetch: number, queues: number): number[] {
  const base = Math.floor(prefetch / queues);
  const remainder = prefetch % queues;
  return Array.from({ length: queues }, (_, i) => Math.max(1, base + (i < remainder ? 1 : 0)));
}

/**
 * The header RabbitMQ puts on every delivery from a stream queue (its offset in the stream). A
 * stream cannot take a reject or a requeue: `basic.reject` / `basic.nack` on one close the whole
 * connection (540), and every AMQP route may send them.
 */
export const STREAM_OFFSET_HEADER = "x-stream-offset";

/** Whether a queue declared with these arguments is a stream. */
export function declaresStream(args: Readonly<Record<string, unknown>> | undefined): boolean {
  return typeof args?.["x-queue-type"] === "string" && args["x-queue-type"].toLowerCase() === "stream";
}
