import { Actions } from "../../../core/constants.js";
import type { Forwarding } from "../../../core/consume/acknowledger.js";
import { deadLetterReasonOf, failedBeforeHandler } from "../../../core/consume/dead-letter-reason.js";
import { failureFields, type Logger } from "../../../core/logger.js";
import type { SchemaIssue } from "../../../core/schema.js";
import type { AMQPMessage, Redirect } from "../message.js";
import type { Options } from "../port.js";
import type { AMQPRoute } from "../route-spec.js";
import { DeadLetterDeclareError, SchemaValidationError } from "./errors.js";
import {
  attemptsOf,
  type DeadLetterReason,
  deadLetterHeaders,
  describeError,
  failureHeaders,
  republishProperties,
} from "./headers.js";
import { deadLetterQueueOf } from "./options.js";
import {
  type Declarer,
  DLQ_REDECLARE_MS,
  deadLetterQueueOptions,
  delayQueueName,
  delayQueueOptions,
  quantizeDelay,
  renewAfter,
} from "./topology.js";

/** Publishes on the route's vhost and resolves on the broker's confirm (the transport's Publisher). */
export type RawPublish = (
  exchange: string,
  routingKey: string,
  content: Buffer,
  properties: Options.Publish,
) => Promise<void>;

/** Where one message goes instead of being acked or rejected. */
export interface Forward {
  readonly kind: "retry" | "dead-letter";
  readonly queue: string;
  /** The delay queue's TTL (retries only). */
  readonly delay: number;
  readonly properties: Options.Publish;
  readonly reason: DeadLetterReason | undefined;
  readonly attempts: number;
  /** The schema's issues, for the log line of a body the route's schema refused. */
  readonly issues?: readonly SchemaIssue[] | undefined;
}

/**
 * Sends a route's failed messages to a delay queue (a retry) or to its dead-letter queue, then acks
 * the delivery. The publish is confirmed *before* the ack, and the delivery stays outstanding on its
 * channel meanwhile (so no `multiple` ack covers it): nothing is lost between the two. A crash in
 * between leaves both copies; the duplicate is the price of never losing one (at-least-once).
 */
export class Forwarder implements Forwarding<AMQPMessage, Forward> {
  /** Messages sent to a delay queue. */
  retried = 0;
  /** Messages sent to a dead-letter queue. */
  deadLettered = 0;

  constructor(
    private readonly route: AMQPRoute,
    private readonly publish: RawPublish,
    private readonly declarer: Declarer,
    private readonly logger: Logger,
  ) {}

  /** Declares the route's dead-letter queues; run at every attach (start and after reconnects). */
  async attach(): Promise<void> {
    const deadLetter = this.route.deadLetter;
    if (deadLetter === undefined) return;
    const queues = new Set(this.route.queues.map((queue) => deadLetterQueueOf(queue, deadLetter)));
    for (const queue of queues) {
      try {
        await this.declarer.ensure(queue, deadLetterQueueOptions(deadLetter.queueType), 0, true);
      } catch (error) {
        throw new DeadLetterDeclareError(queue, error);
      }
    }
  }

  /** Where `redirect` sends `message`; undefined when it has nowhere to go (no dead-letter queue). */
  target(message: AMQPMessage, redirect: Redirect): Forward | undefined {
    const now = new Date();
    // Deliveries that never came back settled count as failed attempts (redeliveries.ts).
    const failures = attemptsOf(message.properties.headers) + (message.redeliveries ?? 0);
    const retry = this.route.retry;
    if (redirect.kind === "retry" && retry !== undefined) {
      const attempts = failures + 1;
      if (attempts >= retry.maxAttempts)
        return this.deadLetter(message, attempts, "max-attempts", redirect.error, now);
      const delay = quantizeDelay(redirect.delay ?? this.backoff(attempts));
      const headers = failureHeaders(message.properties.headers, attempts, redirect.error, now);
      return {
        kind: "retry",
        queue: delayQueueName(message.queue, delay, retry.queueType),
        delay,
        properties: republishProperties(message.properties, headers),
        reason: undefined,
        attempts,
      };
    }
    const attempts = failedBeforeHandler(redirect.error) ? failures : failures + 1;
    return this.deadLetter(message, attempts, deadLetterReasonOf(redirect.error), redirect.error, now);
  }

  /**
   * Publishes `message` where `target` says (mandatory: a copy the broker cannot route is a
   * failure), then acks it; on a failed publish it is requeued (the broker keeps it; a later
   * delivery tries again). Never rejects.
   */
  async forward(message: AMQPMessage, target: Forward): Promise<void> {
    message.settle(Actions.ACK);
    // Its channel is gone: the broker redelivers the original, so a copy would only be a duplicate.
    if (!message.session.alive) return;
    try {
      await this.ensure(message, target);
      try {
        await this.publish("", target.queue, message.raw, target.properties);
      } catch (error) {
        if ((error as { code?: unknown }).code !== "WEIR_ERR_PUBLISH_UNROUTABLE") throw error;
        // Returned (mandatory): the queue weir declared is gone (an unused delay queue expires, a
        // dead-letter queue may be deleted by hand). Declare it again and publish once more; if that
        // fails too, the original is requeued below, never acked.
        this.declarer.forget(target.queue);
        await this.ensure(message, target);
        await this.publish("", target.queue, message.raw, target.properties);
      }
    } catch (error) {
      // A broker failure (timeout, nack, closed channel), not broken code: no stack.
      this.logger.error(
        { queue: message.queue, target: target.queue, kind: target.kind, ...failureFields(error) },
        "could not forward a failed message; requeued it instead",
      );
      message.session.send(message, Actions.REQUEUE);
      return;
    }
    message.session.send(message, Actions.ACK);
    if (!message.session.alive) {
      // Its channel died while the publish was in flight: the broker redelivers the original too.
      this.logger.warn(
        { queue: message.queue, target: target.queue },
        "forwarded a message whose channel died",
      );
    }
    if (target.kind === "retry") {
      this.retried++;
      this.logger.debug(
        { queue: message.queue, delayMs: target.delay, attempt: target.attempts },
        "message will be retried",
      );
    } else {
      this.deadLettered++;
      this.logger.warn(
        {
          queue: message.queue,
          deliveryTag: message.deliveryTag,
          deadLetterQueue: target.queue,
          reason: target.reason,
          attempts: target.attempts,
          error: target.properties.headers?.["x-weir-error"],
          issues: target.issues,
        },
        "message dead-lettered",
      );
    }
  }

  private ensure(message: AMQPMessage, target: Forward): Promise<void> {
    if (target.kind === "retry") {
      return this.declarer.ensure(
        target.queue,
        delayQueueOptions(message.queue, target.delay, this.route.retry?.queueType),
        renewAfter(target.delay),
      );
    }
    const options = deadLetterQueueOptions(this.route.deadLetter?.queueType ?? "classic");
    return this.declarer.ensure(target.queue, options, DLQ_REDECLARE_MS, true);
  }

  private deadLetter(
    message: AMQPMessage,
    attempts: number,
    reason: DeadLetterReason,
    error: unknown,
    now: Date,
  ): Forward | undefined {
    const deadLetter = this.route.deadLetter;
    const issues = error instanceof SchemaValidationError ? error.issues : undefined;
    if (deadLetter === undefined) {
      this.logger.warn(
        {
          queue: message.queue,
          deliveryTag: message.deliveryTag,
          reason,
          attempts,
          error: describeError(error).message,
          issues,
        },
        "message rejected without requeue (the route has no dead-letter queue)",
      );
      return undefined;
    }
    const headers = deadLetterHeaders(message.properties.headers, {
      attempts,
      error,
      reason,
      queue: message.queue,
      issues,
      now,
    });
    return {
      kind: "dead-letter",
      queue: deadLetterQueueOf(message.queue, deadLetter),
      delay: 0,
      properties: republishProperties(message.properties, headers),
      reason,
      attempts,
      issues,
    };
  }

  private backoff(attempts: number): number {
    try {
      const delay = this.route.retry?.backoff.get(attempts) ?? 0;
      if (typeof delay === "number" && Number.isFinite(delay) && delay >= 0) return delay;
      throw new TypeError(`backoff.get(${attempts}) returned ${String(delay)}`);
    } catch (error) {
      // A broken custom backoff must not turn into a hot loop: wait a minute.
      this.logger.error({ err: error, attempts }, "retry.backoff failed; retrying in 60 s");
      return 60_000;
    }
  }
}
