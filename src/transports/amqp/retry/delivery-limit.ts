import { ConfigurationError } from "../../../core/errors.js";
import type { Logger } from "../../../core/logger.js";
import { declaredQueueType } from "../queue-type.js";
import type { AMQPRoute } from "../route-spec.js";
import { deadLetterQueueOf } from "./options.js";

/**
 * weir's retries and a quorum queue's `x-delivery-limit` (RabbitMQ docs "Quorum Queues", "Poison
 * Message Handling"). The two count different things:
 *
 * - weir's retries ack the failed delivery once its copy is in a delay queue: the copy is a new
 *   message, so the broker's count (`x-delivery-count`) restarts at 0 on every retry. The broker's
 *   count only grows when a delivery goes back to the queue unacked (a requeue, a channel that
 *   closed, a crash, the consumer timeout, a forward that could not be published).
 * - weir counts those returns toward `retry.maxAttempts` too (core/consume/redeliveries.ts): a copy
 *   with `x-weir-attempts` a is dead-lettered by weir, with its headers, at the delivery whose
 *   `x-delivery-count` reaches `maxAttempts - a`, before its handler runs.
 * - The broker dead-letters a message (through the queue's `x-dead-letter-exchange`, with `x-death`
 *   reason `delivery_limit`) once it was returned more than `x-delivery-limit` times; without a
 *   dead-letter exchange it drops it (RabbitMQ 3.10: a limit of L allows L + 1 deliveries).
 *
 * So a limit of at least `maxAttempts` leaves every loop to weir (the broker's limit is then only a
 * backstop, for when weir cannot publish its dead letter), and a limit needs a dead-letter exchange,
 * else what passes it is lost. weir never changes the arguments of a queue the route declares (a
 * quorum queue's arguments are fixed at creation: a changed set would make every redeclare fail
 * with PRECONDITION_FAILED); it warns at registration, with this code, and says what to add.
 */
export class DeliveryLimitError extends ConfigurationError {
  readonly queue: string;
  readonly problem: "no-dead-letter-exchange" | "below-max-attempts";

  constructor(queue: string, problem: DeliveryLimitError["problem"], message: string) {
    super("WEIR_ERR_DELIVERY_LIMIT", `queue "${queue}": ${message}`);
    this.queue = queue;
    this.problem = problem;
  }
}

/**
 * The problems of a route that declares quorum queues with `x-delivery-limit`, beside its retries
 * and dead letters (the route's queues all share its `declare`). Empty for other routes: weir sees
 * the arguments of the queues it declares only (a policy may set them too, unseen).
 */
export function deliveryLimitProblems(route: AMQPRoute): DeliveryLimitError[] {
  const args = route.declare?.arguments;
  if (args === undefined || declaredQueueType(args) !== "quorum") return [];
  const limit = args["x-delivery-limit"];
  if (typeof limit !== "number") return [];
  const problems: DeliveryLimitError[] = [];
  for (const queue of route.queues) {
    if (route.deadLetter !== undefined && args["x-dead-letter-exchange"] === undefined) {
      const dlq = deadLetterQueueOf(queue, route.deadLetter);
      problems.push(
        new DeliveryLimitError(
          queue,
          "no-dead-letter-exchange",
          `x-delivery-limit ${limit} without x-dead-letter-exchange: the broker drops a message returned more than ${limit} times, ` +
            `it never reaches the dead-letter queue. Add "x-dead-letter-exchange": "" and "x-dead-letter-routing-key": "${dlq}" ` +
            "to declare.arguments (or set them by policy)",
        ),
      );
    }
    if (route.retry !== undefined && limit < route.retry.maxAttempts) {
      problems.push(
        new DeliveryLimitError(
          queue,
          "below-max-attempts",
          `x-delivery-limit ${limit} is below retry.maxAttempts ${route.retry.maxAttempts}: a message the queue gets back unacked ` +
            `(a crash, a lost channel, the consumer timeout) is dead-lettered by the broker after ${limit + 1} deliveries, ` +
            "without weir's x-weir-* headers, before weir's own count ends the loop. Use a limit of at least retry.maxAttempts",
        ),
      );
    }
  }
  return problems;
}

/** Logs {@link deliveryLimitProblems} as warnings (registration; never thrown). */
export function warnDeliveryLimit(route: AMQPRoute, logger: Logger): void {
  for (const problem of deliveryLimitProblems(route)) {
    logger.warn(
      { route: route.name, queue: problem.queue, code: problem.code, problem: problem.problem },
      problem.message,
    );
  }
}
