/**
 * The broker's count of earlier deliveries, where the queue type keeps one (a quorum queue's
 * `x-delivery-count`). Core's `Redeliveries` (src/core/consume/redeliveries.ts) counts them toward a
 * route's retry attempts, and in process where the broker keeps none.
 */
export const DELIVERY_COUNT_HEADER = "x-delivery-count";

export { RedeliveryLimitError } from "../../../core/consume/redeliveries.js";
