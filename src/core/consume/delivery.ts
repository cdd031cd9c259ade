import { type Action, Actions } from "../constants.js";
import { InvalidOptionError } from "../errors.js";
import type { Logger } from "../logger.js";
import { knownKeys } from "../validate.js";
import { DeadLetteredError, RetryNotConfiguredError, RetryRequestedError } from "./errors.js";

/**
 * One unit of work as a handler receives it, whatever its transport: the body, where it came from,
 * how often it was tried, and the handler's own decision about it. An AMQP message and an SSE event
 * are Deliveries; a transport subclasses this with what only it has (the delivery tag, the event
 * name). Decisions (`accept()`, `reject()`, `retry()`, `deadLetter()`) win over the route's
 * `onSuccess` / `onException`; weir applies them when the handler's bulk ends, through the
 * transport's acknowledger (./acknowledger.ts), as far as the transport can (its capabilities).
 */

export interface RejectOptions {
  /**
   * Put the message back on its queue (it comes back flagged `redelivered`) instead of dropping or
   * dead-lettering it. A transport that cannot requeue (SSE) drops it.
   * @defaultValue true
   */
  requeue?: boolean;
}

/** Options of `m.retry()`. */
export interface RetryMessageOptions {
  /**
   * Wait this long (ms) before the message comes back, instead of the route's backoff. Rounded
   * like the backoff's delays (two significant digits).
   * @defaultValue the route's `retry.backoff` for this attempt
   */
  delay?: number;
  /**
   * Why, recorded in the `x-weir-error` header (and on the dead letter if this was the last attempt).
   * @defaultValue "retried by the handler"
   */
  reason?: string;
}

/** @internal A settlement that must go somewhere first (a delay queue, a dead-letter queue). */
export interface Redirect {
  readonly kind: "retry" | "dead-letter";
  /** An explicit retry delay (ms). */
  readonly delay?: number | undefined;
  /** Why, for the dead-letter headers and the log line. */
  readonly error?: unknown;
}

/** @internal What a delivery knows about its route's policy. */
export interface DeliveryPolicyFlags {
  /** The route has `retry`: `m.retry()` is allowed. */
  readonly retries: boolean;
}

const REJECT_KEYS = ["requeue"];
const RETRY_KEYS = ["delay", "reason"];

const OPEN = 0;
const DECIDED = 1;
const SETTLED = 2;

export abstract class Delivery<T = unknown> {
  /**
   * The body: decoded per the transport's rules (JSON for JSON media types on AMQP, JSON when it
   * parses on SSE), then the route's schema output when it has a `schema`.
   */
  readonly body: T;
  /** @internal */
  state: number = OPEN;
  /** @internal The handler's decision, if it made one. */
  decision: Action | undefined = undefined;
  /**
   * @internal Set by `retry()` / `deadLetter()` and by the policy. Declared, not initialized: a
   * delivery of a route without a policy never carries the field (the hot path allocates nothing more).
   */
  declare redirect: Redirect | undefined;
  /** @internal Set before the handler runs, on routes with a policy. */
  declare policy: DeliveryPolicyFlags | undefined;
  /** @internal Earlier deliveries never settled (consumer timeout, lost channel), on routes with `retry`. */
  declare redeliveries: number | undefined;

  constructor(body: T) {
    this.body = body;
  }

  /** Where it came from: the queue, the stream's path. */
  abstract get source(): string;
  /** Metadata sent with it (AMQP headers); `{}` when the transport has none. */
  abstract get headers(): Readonly<Record<string, unknown>>;
  /** True when the source delivered it before (a requeue, a channel that died). */
  abstract get redelivered(): boolean;
  /** @internal The sender's id for it (AMQP `message-id`, the SSE `id:` field), if any. */
  abstract get messageId(): string | undefined;
  /** @internal The bytes as received, for dedup keys and dead letters. */
  abstract get rawBytes(): Buffer;
  /** @internal Fields that name it in a log line (queue and delivery tag, stream and event id). */
  abstract logFields(): Record<string, unknown>;
  /** @internal Attempts made before this delivery, as the transport recorded them (`x-weir-attempts`). */
  abstract priorAttempts(): number;
  /**
   * @internal Earlier deliveries as the broker counts them (a quorum queue's `x-delivery-count`);
   * `undefined` where the broker keeps no count.
   */
  brokerRedeliveries(): number | undefined {
    return undefined;
  }
  /** @internal Where a slip (a second decision) is told. */
  protected abstract get deliveryLogger(): Logger;

  /**
   * Which delivery of this message the handler sees: 1 the first time, 2 after one retry, ...
   * On a route with `retry`, a redelivery of a delivery that was never settled (the broker's
   * consumer timeout, a lost channel, a crash) counts too (docs/retries.md).
   */
  get attempt(): number {
    return this.priorAttempts() + (this.redeliveries ?? 0) + 1;
  }

  /** Settle this message as processed when the bulk ends, whatever the handler's outcome. */
  accept(): void {
    this.decide(Actions.ACK);
  }

  /** Reject this message when the bulk ends; requeued unless `{ requeue: false }`. */
  reject(options?: RejectOptions): void {
    // A misspelled `requeue` would silently requeue a message meant to be dropped: a loop.
    if (options !== undefined) knownKeys("reject", options, REJECT_KEYS);
    this.decide(options?.requeue === false ? Actions.REJECT : Actions.REQUEUE);
  }

  /**
   * Retry this message later, after `delay` ms (or the route's backoff), counted as a failed
   * attempt; past `retry.maxAttempts` it is dead-lettered. Throws `WEIR_ERR_RETRY_NOT_CONFIGURED`
   * on a route without a `retry` option.
   */
  retry(options?: RetryMessageOptions): void {
    if (this.policy?.retries !== true) throw new RetryNotConfiguredError();
    if (options !== undefined) knownKeys("retry", options, RETRY_KEYS);
    const delay = options?.delay;
    if (delay !== undefined && (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0)) {
      throw new InvalidOptionError("delay", `must be a number of milliseconds >= 0, got ${String(delay)}`);
    }
    if (this.decide(Actions.REQUEUE)) {
      this.redirect = {
        kind: "retry",
        delay,
        error: new RetryRequestedError(options?.reason ?? "retried by the handler"),
      };
    }
  }

  /**
   * Send this message to the route's dead-letter queue when the bulk ends, with `reason`; no retry.
   * On a route (or a transport) without a dead-letter queue it is rejected without requeue.
   */
  deadLetter(reason = "dead-lettered by the handler"): void {
    if (this.decide(Actions.REJECT))
      this.redirect = { kind: "dead-letter", error: new DeadLetteredError(reason) };
  }

  /** @internal */
  isSettled(): boolean {
    return this.state === SETTLED;
  }

  /** @internal Marks it settled and returns the action to apply. */
  settle(fallback: Action): Action {
    this.state = SETTLED;
    return this.decision ?? fallback;
  }

  /** Records `action`; false (with a warning) when it was decided already. */
  private decide(action: Action): boolean {
    if (this.state !== OPEN) {
      // Acting twice is a programming slip, not a reason to crash a worker: keep the first decision.
      this.deliveryLogger.warn(
        { ...this.logFields(), first: this.decision, ignored: action },
        "message already settled; ignoring the second action",
      );
      return false;
    }
    this.state = DECIDED;
    this.decision = action;
    return true;
  }
}
