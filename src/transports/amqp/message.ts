import { Delivery } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";
import type { ChannelSession } from "./channel-session.js";
import type { ConsumeMessage, MessageProperties } from "./port.js";
import { deliveryCountOf } from "./queue-type.js";
import { ReplyNotEnabledError } from "./request-errors.js";
import { attemptsOf } from "./retry/headers.js";

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

  /**
   * How many times the broker delivered this message before without it being acked (a requeue, a
   * channel or connection that closed, the broker's consumer timeout), as the queue counts it: a
   * quorum queue's `x-delivery-count`. 0 on a first delivery from a queue weir knows to be a
   * quorum queue (the route declares it with `x-queue-type: quorum`: the broker sets the header
   * from the first redelivery on only); `undefined` where the queue keeps no count (classic queues
   * only flag `redelivered`), and on the first delivery from a quorum queue the route does not
   * declare (AMQP never tells a consumer the queue's type).
   *
   * It counts this copy of the message: a retry of weir's (`retry`) is a new message that starts
   * at 0 again, its earlier failures are in `m.attempt`. With `x-delivery-limit` on the queue, the
   * broker dead-letters (or drops) the message once it was returned more than that many times
   * (docs/retries.md, "Quorum queues").
   */
  get deliveryCount(): number | undefined {
    const count = deliveryCountOf(this.delivery.properties.headers);
    if (count !== undefined) return count;
    return !this.delivery.fields.redelivered && this.session.countsDeliveries(this.queue) ? 0 : undefined;
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
    return deliveryCountOf(this.delivery.properties.headers);
  }

  protected get deliveryLogger(): Logger {
    return this.session.logger;
  }
}
