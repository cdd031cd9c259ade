import type { Action } from "../constants.js";
import type { HandlerContext } from "../handler-call.js";
import type { Delivery } from "./delivery.js";

/** A handler of a consuming route: a bulk of deliveries, and a context with the call's `signal`. */
export type BulkHandler<D extends Delivery> = (deliveries: D[], context: HandlerContext) => unknown;

/** What the route runner needs of a consuming route, whatever its transport (checked, defaults applied). */
export interface ConsumerRoute<D extends Delivery> {
  /** The route's name in logs and metrics (its queues, its paths). */
  readonly name: string;
  readonly bulkSize: number;
  /** ms a partial bulk's oldest delivery waits before the bulk is handed over. */
  readonly flushInterval: number;
  readonly concurrency: number;
  /** The longest one handler call may take (ms); undefined: no limit. */
  readonly timeout: number | undefined;
  readonly onSuccess: Action;
  readonly onException: Action;
  readonly handler: BulkHandler<D>;
}
