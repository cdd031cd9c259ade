import { Actions } from "./constants.js";
import type { HandlerContext } from "./handler-call.js";
import type { TaskDelivery, TaskRun } from "./transport.js";

/**
 * A task route's handler: each message of the bulk (one, as `bulkSize` is 1) through `run`, in
 * order, as the carrier's `TaskDelivery`.
 */
export function taskRouteHandler<M>(
  run: TaskRun,
  delivery: (message: M) => TaskDelivery,
): (messages: M[], context: HandlerContext) => Promise<void> {
  return async (messages, context) => {
    for (const message of messages) await run(delivery(message), context);
  };
}

/**
 * What every transport's `TaskCarrier` maps the same way from the common task options into its
 * route spec: one message per handler call (a task is a unit of work, and its retry or dead letter
 * is per message), the handler's `concurrency` and `timeout`, a failure that is final without
 * `retry`, and the route-level `prefetch`,
 * `retry`, `deadLetter`, `once` and `schema`. Each carrier adds its own keys and checks the values
 * through its route's normal validation.
 */
export function commonTaskRouteFields(given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    options: {
      bulkSize: 1,
      ...(given.concurrency !== undefined && { concurrency: given.concurrency }),
      ...(given.timeout !== undefined && { timeout: given.timeout }),
      // Without `retry`, a failed run is final: its message is rejected (dead-lettered with
      // `deadLetter`), never requeued, which would run it again at once, forever.
      ...(given.retry === undefined && { onException: Actions.REJECT }),
    },
  };
  for (const key of ["prefetch", "retry", "deadLetter", "once", "schema"]) {
    if (given[key] !== undefined) fields[key] = given[key];
  }
  return fields;
}
