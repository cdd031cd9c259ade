import { Delivery } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";
import type { ChannelSession } from "./channel-session.js";
import type { ConsumeMessage, MessageProperties } from "./port.js";
import { ReplyNotEnabledError } from "./request-errors.js";
import { attemptsOf } from "./retry/headers.js";
import { DELIVERY_COUNT_HEADER } from "./retry/redeliveries.js";

export type {
  DeliveryPolicyFlags as MessagePolicy,
  Redirect,
  RejectOptions,
  RetryMessageOptions,
} from "../../core/consume/delivery.js";

/**
 * One delivery as a handler sees it: core's `Delivery` with what AMQP adds (the queue, the delivery
 * tag, the properties). `accept()` / `reject()` / `retry()` / `deadLetter()` record a decision that
 * wins over the route's `onSuccess` / `onException`; weir sends it to the broker when the handler's
 * bulk ends, so that a whole bulk can be settled with as few frames as possible.
 */
export class AMQPMessage<T = unknown> extends Delivery<T> {
  /** The queue this message was consumed from. */
  readonly queue: string;
  /** @internal The delivery as amqplib gave it. */
  readonly delivery: ConsumeMessage;
  /** @internal The channel incarnation that can settle it. */
  readonly session: ChannelSession;
  /** @internal Set on the messages of a route with `reply` (declared: other routes never carry it). */
  declare replyEnabled: boolean | undefined;
  /** @internal What `reply()` was given, boxed so that `undefined` is a reply too. */
  declare replyValue: { readonly value: unknown } | undefined;

  /**
   * The body is JSON-decoded for JSON media types (`application/json`, `*+json`, any case) or
   * untyped messages, else the bytes; decompressed per `content-encoding` (docs/amqp.md).
   */
  constructor(delivery: ConsumeMessage, queue: string, body: T, session: ChannelSession) {
    super(body);
    this.delivery = delivery;
    this.queue = queue;
    this.session = session;
  }

  /**
   * Sets this message's reply, which wins over the handler's returned array (routes with `reply`
   * only). Sent to the message's `replyTo` with its `correlationId` when the handler's bulk ends; a
   * message without `replyTo` has nobody to answer and gets none. The last call wins.
   * @throws ReplyNotEnabledError `WEIR_ERR_REPLY_NOT_ENABLED` on a route without `reply`.
   */
  reply(value: unknown): void {
    if (this.replyEnabled !== true) throw new ReplyNotEnabledError();
    this.replyValue = { value };
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

  /** The queue it was consumed from. */
  get source(): string {
    return this.queue;
  }

  /** @internal */
  get messageId(): string | undefined {
    const id: unknown = this.delivery.properties.messageId;
    return typeof id === "string" ? id : undefined;
  }

  /** @internal */
  get rawBytes(): Buffer {
    return this.delivery.content;
  }

  /** @internal */
  logFields(): Record<string, unknown> {
    return { queue: this.queue, deliveryTag: this.deliveryTag };
  }

  /** @internal Failed attempts recorded in `x-weir-attempts` by weir's retries. */
  priorAttempts(): number {
    return attemptsOf(this.delivery.properties.headers);
  }

  /** @internal A quorum queue's `x-delivery-count`. */
  override brokerRedeliveries(): number | undefined {
    const count = this.delivery.properties.headers?.[DELIVERY_COUNT_HEADER];
    return typeof count === "number" && Number.isSafeInteger(count) && count >= 0 ? count : undefined;
  }

  protected get deliveryLogger(): Logger {
    return this.session.logger;
  }
}
