import type { Action } from "../constants.js";
import type { Delivery, Redirect } from "./delivery.js";

/**
 * How a transport settles deliveries: the one place where "ack", "reject" and "requeue" become
 * broker frames (AMQP `basic.ack` / `basic.nack`), counters (SSE, which has nothing to answer), or,
 * for the brokers to come, `nak(delay)` (JetStream) or a visibility change (SQS). Broadway's
 * acknowledger, one per transport; core's route runner and policies call it and never a broker.
 */
export interface Acknowledger<D extends Delivery> {
  /**
   * Settles `deliveries`: each with its own decision, else `fallback`, and marks each settled.
   * Batched where the broker allows it (AMQP acks a run of tags with one `multiple` frame).
   */
  settle(deliveries: readonly D[], fallback: Action): void;
  /**
   * Deliveries that never reached the handler before the stop deadline: the broker gets them back
   * (AMQP requeues them); a transport without redelivery reports them lost, with their ids.
   */
  abandon(deliveries: readonly D[]): void;
  /** Whether the delivery can still be settled (its channel has not died since it arrived). */
  settleable(delivery: D): boolean;
}

/** Where a redirected delivery goes: a delay queue (`retry`) or a dead-letter queue. */
export interface ForwardTarget {
  readonly kind: "retry" | "dead-letter";
}

/**
 * Retries and dead letters that go through the broker, for a transport that has somewhere to send
 * them (AMQP: a delay queue, then back; a dead-letter queue). A transport without one gets neither:
 * its routes may not ask for `retry` on the broker, and a dead letter is rejected.
 */
export interface Forwarding<D extends Delivery, T extends ForwardTarget = ForwardTarget> {
  /** Where `redirect` sends `delivery`; `undefined` when nowhere (no dead-letter queue): rejected. */
  target(delivery: D, redirect: Redirect): T | undefined;
  /**
   * Sends the copy, then settles the original once the broker has it (confirm, then ack): never
   * loses it. Resolves when done; never rejects (a failed copy leaves the original to be redelivered).
   */
  forward(delivery: D, target: T): Promise<void>;
  /** Declares what failures need (dead-letter queues); run at every (re-)attach. */
  attach(): Promise<void>;
  /** Deliveries sent to a delay queue so far. */
  readonly retried: number;
  /** Deliveries sent to a dead-letter queue so far. */
  readonly deadLettered: number;
}
