import { Delivery } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";
import type { SQSReceived } from "./port.js";

/** weir's message attributes on SQS. */
export const SQS_ATTRIBUTES = {
  /** The sender's id for the message (the default `once` key); SQS's own `MessageId` is per send. */
  messageId: "weir-message-id",
  contentType: "content-type",
  /**
   * On a dead letter: why as a category (`max-attempts`, `schema`, ... as on every transport), why in
   * words, the attempts it had, and the queue it came from.
   */
  reason: "x-weir-reason",
  error: "x-weir-error",
  attempts: "x-weir-attempts",
  originalQueue: "x-weir-original-queue",
} as const;

/**
 * One SQS message as a handler receives it. `attempt` is SQS's own `ApproximateReceiveCount`
 * (every receive counts: a retry, a requeue, a visibility timeout that lapsed), so `redelivered` is
 * true from the second receive on, across workers and restarts.
 */
export class SQSMessage<T = unknown> extends Delivery<T> {
  /** The queue's name. */
  readonly queue: string;
  /** The queue's URL. */
  readonly queueUrl: string;
  /** SQS's `MessageId`. */
  readonly sqsMessageId: string;
  /** The `ReceiptHandle` of this receive. */
  readonly receiptHandle: string;
  /** `ApproximateReceiveCount`: 1 on the first receive. */
  readonly receiveCount: number;
  /** `MessageGroupId` on a FIFO queue. */
  readonly groupId: string | undefined;
  /** The body as sent. */
  readonly rawBody: string;
  /** String message attributes. */
  readonly attributes: Readonly<Record<string, string>>;
  /** @internal When this receive's visibility lapses (ms since the epoch); moved by extensions. */
  visibleAt: number;
  private readonly log: Logger;

  constructor(
    queue: string,
    queueUrl: string,
    received: SQSReceived,
    body: T,
    visibleAt: number,
    log: Logger,
  ) {
    super(body);
    this.queue = queue;
    this.queueUrl = queueUrl;
    this.sqsMessageId = received.id;
    this.receiptHandle = received.receipt;
    this.receiveCount = received.receiveCount;
    this.groupId = received.groupId;
    this.rawBody = received.body;
    this.attributes = received.attributes;
    this.visibleAt = visibleAt;
    this.log = log;
  }

  get source(): string {
    return this.queue;
  }
  get headers(): Readonly<Record<string, unknown>> {
    return this.attributes;
  }
  get redelivered(): boolean {
    return this.receiveCount > 1;
  }
  get messageId(): string | undefined {
    return this.attributes[SQS_ATTRIBUTES.messageId];
  }
  get rawBytes(): Buffer {
    return Buffer.from(this.rawBody);
  }
  logFields(): Record<string, unknown> {
    return { queue: this.queue, sqsMessageId: this.sqsMessageId, receiveCount: this.receiveCount };
  }
  /** Every earlier receive of this message, as SQS counts them. */
  priorAttempts(): number {
    return Math.max(0, this.receiveCount - 1);
  }
  /** SQS counts them all in `priorAttempts()`: nothing to count on top. */
  override brokerRedeliveries(): number {
    return 0;
  }
  protected get deliveryLogger(): Logger {
    return this.log;
  }
}
