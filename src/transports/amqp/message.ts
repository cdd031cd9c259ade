import type { ConsumeMessage, MessageProperties } from "amqplib";
import { type Action, Actions } from "../../core/constants.js";
import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys } from "../../core/validate.js";
import type { ChannelSession } from "./channel-session.js";
import { DeadLetteredError, RetryNotConfiguredError, RetryRequestedError } from "./retry/errors.js";
import { attemptsOf } from "./retry/headers.js";

export interface RejectOptions {
  /**
   * Put the message back on its queue (it comes back flagged `redelivered`) instead of dropping or
   * dead-lettering it.
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

const REJECT_KEYS = ["requeue"];
const RETRY_KEYS = ["delay", "reason"];

/** @internal A settlement that needs a confirmed publish before the delivery is acked. */
export interface Redirect {
  readonly kind: "retry" | "dead-letter";
  /** An explicit retry delay (ms). */
  readonly delay?: number | undefined;
  /** Why, for the dead-letter headers. */
  readonly error?: unknown;
}

/** @internal What a message knows about its route's retry/dead-letter policy. */
export interface MessagePolicy {
  readonly retries: boolean;
}

const OPEN = 0;
const DECIDED = 1;
const SETTLED = 2;

/**
 * One delivery as a handler sees it. `accept()` / `reject()` record a decision that wins over the
 * route's `onSuccess` / `onException`; weir sends it to the broker when the handler's bulk ends, so
 * that a whole bulk can be settled with as few frames as possible.
 */
export class AMQPMessage<T = unknown> {
  /**
   * The body: JSON-decoded for JSON media types (`application/json`, `*+json`, any case) or
   * untyped messages, else the bytes; decompressed per `content-encoding` (docs/amqp.md).
   */
  readonly body: T;
  /** The queue this message was consumed from. */
  readonly queue: string;
  /** @internal The delivery as amqplib gave it. */
  readonly delivery: ConsumeMessage;
  /** @internal The channel incarnation that can settle it. */
  readonly session: ChannelSession;
  /** @internal */
  state: number = OPEN;
  /** @internal */
  decision: Action | undefined = undefined;
  /**
   * @internal Set by `retry()` / `deadLetter()`. Declared, not initialized: a message of a route
   * without retries or dead letters never carries the field (the hot path allocates nothing more).
   */
  declare redirect: Redirect | undefined;
  /** @internal Set before the handler runs, on routes with retry, dead-letter, once or schema. */
  declare policy: MessagePolicy | undefined;
  /**
   * @internal On a route with `retry`: how many times this message was delivered before without
   * being settled (`x-delivery-count`, or the redeliveries this process saw). Unset when 0.
   */
  declare redeliveries: number | undefined;

  constructor(delivery: ConsumeMessage, queue: string, body: T, session: ChannelSession) {
    this.delivery = delivery;
    this.queue = queue;
    this.body = body;
    this.session = session;
  }

  /** The body as received (still compressed, if it was). */
  get raw(): Buffer {
    return this.delivery.content;
  }

  get deliveryTag(): number {
    return this.delivery.fields.deliveryTag;
  }

  get routingKey(): string {
    return this.delivery.fields.routingKey;
  }

  get exchange(): string {
    return this.delivery.fields.exchange;
  }

  /** True when the broker delivered this message before (a requeue, or a channel that died). */
  get redelivered(): boolean {
    return this.delivery.fields.redelivered;
  }

  get properties(): MessageProperties {
    return this.delivery.properties;
  }

  get headers(): Record<string, unknown> {
    return this.delivery.properties.headers ?? {};
  }

  /**
   * Which delivery of this message the handler sees: 1 the first time, 2 after one retry, ...
   * Read from the `x-weir-attempts` header, so it survives worker restarts and is shared by every
   * consumer. On a route with `retry`, a redelivery of a delivery that was never settled (the
   * broker's consumer timeout, a lost channel, a crash) counts too: the queue's `x-delivery-count`
   * where it keeps one (quorum), else the redeliveries this process saw (docs/retries.md).
   */
  get attempt(): number {
    return attemptsOf(this.delivery.properties.headers) + (this.redeliveries ?? 0) + 1;
  }

  /** Acknowledge this message when the bulk ends, whatever the handler's outcome. */
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
   * Retry this message later, through the route's delay queue: it comes back after `delay` ms (or
   * the route's backoff), counted as a failed attempt; past `retry.maxAttempts` it is dead-lettered.
   * Throws `WEIR_ERR_RETRY_NOT_CONFIGURED` on a route without a `retry` option.
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
   * Send this message to the route's dead-letter queue when the bulk ends, with `reason` in its
   * `x-weir-error` header; no retry. On a route without a dead-letter queue it is rejected without
   * requeue (the queue's own dead-letter exchange, if any, gets it).
   */
  deadLetter(reason = "dead-lettered by the handler"): void {
    if (this.decide(Actions.REJECT))
      this.redirect = { kind: "dead-letter", error: new DeadLetteredError(reason) };
  }

  /** @internal */
  isSettled(): boolean {
    return this.state === SETTLED;
  }

  /** @internal Marks the message settled and returns the action to send. */
  settle(fallback: Action): Action {
    this.state = SETTLED;
    return this.decision ?? fallback;
  }

  /** Records `action`; false (with a warning) when the message was decided already. */
  private decide(action: Action): boolean {
    if (this.state !== OPEN) {
      // Acting twice is a programming slip, not a reason to crash a worker: keep the first decision.
      this.session.logger.warn(
        { queue: this.queue, deliveryTag: this.deliveryTag, first: this.decision, ignored: action },
        "message already settled; ignoring the second action",
      );
      return false;
    }
    this.state = DECIDED;
    this.decision = action;
    return true;
  }
}
