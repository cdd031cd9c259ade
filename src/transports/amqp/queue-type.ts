/**
 * Queue types as weir's retries and dead letters need them. AMQP 0-9-1 never tells a client a
 * queue's type (a passive declare returns counts only), so weir knows it only where it declares the
 * queue itself: a route's `declare.arguments["x-queue-type"]`.
 */

/** The queue types weir declares its own queues (delay queues, dead-letter queues) as. */
export type QueueType = "classic" | "quorum";

export const QUEUE_TYPES: readonly QueueType[] = ["classic", "quorum"];

/**
 * The type of a queue declared with `args`: "quorum" for `x-queue-type: quorum` (any case), else
 * "classic" (a declare without `x-queue-type` makes a classic queue on RabbitMQ 3.x). Streams are
 * refused before this is asked (qos.ts `declaresStream`).
 */
export function declaredQueueType(args: Readonly<Record<string, unknown>> | undefined): QueueType {
  const type = args?.["x-queue-type"];
  return typeof type === "string" && type.toLowerCase() === "quorum" ? "quorum" : "classic";
}

/**
 * The header a quorum queue sets on a message it delivers again: how many times it was delivered
 * before (RabbitMQ 3.10+: absent on the first delivery, 1 on the first redelivery, ...). Classic
 * queues only flag `redelivered`.
 */
export const DELIVERY_COUNT_HEADER = "x-delivery-count";

/** A quorum queue's `x-delivery-count` from `headers`; undefined when absent or not a count. */
export function deliveryCountOf(headers: Readonly<Record<string, unknown>> | undefined): number | undefined {
  const count = headers?.[DELIVERY_COUNT_HEADER];
  if (typeof count === "number") return Number.isSafeInteger(count) && count >= 0 ? count : undefined;
  // A long beyond ±2^53 is read as a bigint (field-table): no real count is that large.
  return undefined;
}

/**
 * The route's queues known to count deliveries: all of them when the route declares them as quorum
 * queues, else none (weir cannot tell the type of a queue it does not declare).
 */
export function countingQueues(route: {
  readonly queues: readonly string[];
  readonly declare: { readonly arguments: Readonly<Record<string, unknown>> } | undefined;
}): ReadonlySet<string> | undefined {
  if (route.declare === undefined || declaredQueueType(route.declare.arguments) !== "quorum")
    return undefined;
  return new Set(route.queues);
}
