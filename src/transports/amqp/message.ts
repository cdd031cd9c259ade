import type { ConsumeMessage, MessageProperties } from "amqplib";
import { type Action, Actions } from "../../core/constants.js";
import type { ChannelSession } from "./channel-session.js";

export interface RejectOptions {
  /**
   * Put the message back on its queue (it comes back flagged `redelivered`) instead of dropping or
   * dead-lettering it.
   * @defaultValue true
   */
  requeue?: boolean;
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
  /** The body: JSON-decoded for JSON (or untyped) messages, else the raw Buffer. */
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

  constructor(delivery: ConsumeMessage, queue: string, body: T, session: ChannelSession) {
    this.delivery = delivery;
    this.queue = queue;
    this.body = body;
    this.session = session;
  }

  /** The body as received. */
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

  /** Acknowledge this message when the bulk ends, whatever the handler's outcome. */
  accept(): void {
    this.decide(Actions.ACK);
  }

  /** Reject this message when the bulk ends; requeued unless `{ requeue: false }`. */
  reject(options?: RejectOptions): void {
    this.decide(options?.requeue === false ? Actions.REJECT : Actions.REQUEUE);
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

  private decide(action: Action): void {
    if (this.state !== OPEN) {
      // Acting twice is a programming slip, not a reason to crash a worker: keep the first decision.
      this.session.logger.warn(
        { queue: this.queue, deliveryTag: this.deliveryTag, first: this.decision, ignored: action },
        "message already settled; ignoring the second action",
      );
      return;
    }
    this.state = DECIDED;
    this.decision = action;
  }
}
