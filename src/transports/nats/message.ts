import { Delivery } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";
import type { JetStreamMessage } from "./port.js";

/**
 * One JetStream message as a NATS route's handler receives it: core's `Delivery` (`accept()`,
 * `reject()`, `retry()`, `deadLetter()`, `attempt`) plus its subject, stream sequence and headers.
 * `attempt` is JetStream's delivery count: a `nak` (requeue, retry) or an ack wait that lapsed
 * counts, as the server counts them.
 */
export class NATSMessage<T = unknown> extends Delivery<T> {
  /** The stream the route reads. */
  readonly stream: string;
  /** @internal The client's message, to ack / nak / term. */
  readonly message: JetStreamMessage;
  private readonly log: Logger;
  private headerRecord: Record<string, string> | undefined;
  /** @internal Its slot among the messages its route holds (route-consumer.ts), -1 when none. */
  heldAt = -1;

  constructor(message: JetStreamMessage, stream: string, body: T, log: Logger) {
    super(body);
    this.message = message;
    this.stream = stream;
    this.log = log;
  }

  /** The subject it was published to. */
  get subject(): string {
    return this.message.subject;
  }

  /** Its sequence number in the stream. */
  get seq(): number {
    return this.message.seq;
  }

  /** How many times JetStream delivered it, this time included (1 the first time). */
  get deliveryCount(): number {
    return this.message.info.deliveryCount;
  }

  /** The bytes as published. */
  get raw(): Uint8Array {
    return this.message.data;
  }

  /** Its NATS headers (the first value of each), `{}` when it has none. */
  get headers(): Readonly<Record<string, string>> {
    if (this.headerRecord !== undefined) return this.headerRecord;
    const record: Record<string, string> = {};
    const headers = this.message.headers;
    if (headers !== undefined) for (const key of headers.keys()) record[key] = headers.get(key);
    this.headerRecord = record;
    return record;
  }

  /**
   * Tells JetStream the handler is still on it: the ack wait starts again. weir does it on its own
   * for every message it holds (every third of `ackWait`); call it in a loop that may outlast it.
   */
  working(): void {
    this.message.working();
  }

  get source(): string {
    return this.stream;
  }

  get redelivered(): boolean {
    return this.message.redelivered || this.message.info.deliveryCount > 1;
  }

  /** @internal `Nats-Msg-Id` (JetStream's dedup id), if the publisher set one. */
  get messageId(): string | undefined {
    const id = this.message.headers?.get("Nats-Msg-Id");
    return id === undefined || id === "" ? undefined : id;
  }

  /** @internal */
  get rawBytes(): Buffer {
    const data = this.message.data;
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  /** @internal */
  logFields(): Record<string, unknown> {
    return { stream: this.stream, subject: this.message.subject, seq: this.message.seq };
  }

  /** @internal JetStream's count: every earlier delivery (a nak, a lapsed ack wait) was an attempt. */
  priorAttempts(): number {
    return Math.max(0, this.message.info.deliveryCount - 1);
  }

  /** @internal The broker counts: nothing for core to count in process on top of `priorAttempts`. */
  override brokerRedeliveries(): number {
    return 0;
  }

  protected get deliveryLogger(): Logger {
    return this.log;
  }
}
