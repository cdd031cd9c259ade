/**
 * The broker's count of earlier deliveries, where the queue type keeps one (a quorum queue's
 * `x-delivery-count`, ../queue-type.ts). Core's `Redeliveries` (src/core/consume/redeliveries.ts)
 * counts them toward a route's retry attempts, and in process where the broker keeps none.
 */

export { RedeliveryLimitError } from "../../../core/consume/redeliveries.js";
export { DELIVERY_COUNT_HEADER } from "../queue-type.js";
