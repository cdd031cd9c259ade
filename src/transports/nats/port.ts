import type { Deadline } from "../../core/deadline.js";

/**
 * What the NATS transport needs of a NATS connection: the official client's (nats-port.ts), or the
 * test client's in-memory one (testing/memory-port.ts). The shapes are the client's own, so a
 * `JsMsg` of `@nats-io/jetstream` is a {@link JetStreamMessage} as it is.
 */

/** A message's headers (`MsgHdrs` of `@nats-io/nats-core`). */
export interface NATSMessageHeaders {
  get(key: string): string;
  keys(): string[];
}

/** One message of a pull consumer (`JsMsg`). */
export interface JetStreamMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The stream sequence. */
  readonly seq: number;
  readonly redelivered: boolean;
  /** `deliveryCount`: 1 on the first delivery, counted by the server. */
  readonly info: { readonly deliveryCount: number; readonly stream: string };
  readonly headers: NATSMessageHeaders | undefined;
  ack(): void;
  /** Redeliver, after `millis` ms when given. */
  nak(millis?: number): void;
  /** Never redeliver. */
  term(reason?: string): void;
  /** Resets the server's ack wait: "still working". */
  working(): void;
}

/** The consumer weir creates when a route's durable consumer does not exist. */
export interface ConsumerSettings {
  readonly durable: string;
  readonly filterSubject: string | undefined;
  /** ms */
  readonly ackWait: number;
  readonly maxAckPending: number;
  /** -1: unlimited. */
  readonly maxDeliver: number;
}

/** A consumer's counts, as `consumer info` gives them. */
export interface ConsumerCounts {
  /** Messages not delivered yet. */
  readonly pending: number;
  /** Delivered and not acknowledged yet. */
  readonly ackPending: number;
}

/** What a JetStream publish ack says. */
export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** A message as a stream keeps it (read by sequence, without consuming it). */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** A running pull consume. */
export interface Consumption {
  /** Stops pulling; messages already on their way still reach `onMessage`. */
  close(): Promise<void>;
}

/** What a consume tells beside messages. */
export interface ConsumeEvents {
  onMessage(message: JetStreamMessage): void;
  /** The consumer (or its stream) is gone on the server: the transport creates it again. */
  onMissing(): void;
}

export interface NATSPort {
  /** Connects (once); rejects with a coded `ConnectionError` after the connect timeout. */
  connect(): Promise<void>;
  /** True while the connection is up. */
  readonly connected: boolean;
  /** The server it is connected to (`host:port`), null when not connected. */
  readonly server: string | null;
  /** Reconnects since the first connect. */
  readonly reconnects: number;
  /** Whether the stream exists. */
  streamExists(stream: string): Promise<boolean>;
  /** Creates the stream with `subjects` when it does not exist (file storage, limits retention). */
  ensureStream(stream: string, subjects: readonly string[]): Promise<void>;
  /** Creates the durable consumer when it does not exist; an existing one is used as it is. */
  ensureConsumer(stream: string, settings: ConsumerSettings): Promise<void>;
  consumerCounts(stream: string, durable: string): Promise<ConsumerCounts>;
  /** Pulls `batch` messages at a time from the durable consumer, for as long as it is not closed. */
  consume(stream: string, durable: string, batch: number, events: ConsumeEvents): Promise<Consumption>;
  /** Publishes and waits for the stream's ack. Rejects with a coded `PublishError`. */
  publish(
    subject: string,
    data: Uint8Array,
    options?: {
      readonly headers?: Readonly<Record<string, string>>;
      readonly msgID?: string;
      readonly timeout?: number;
    },
  ): Promise<PublishAck>;
  /** Up to `limit` messages of `stream`, oldest first, left in place; [] when it does not exist. */
  readMessages(stream: string, limit: number): Promise<StoredMessage[]>;
  /** Deletes one message of `stream` by its sequence. */
  deleteMessage(stream: string, seq: number): Promise<void>;
  /** Deletes the messages of `stream` on `subject`; resolves with how many (0 when it does not exist). */
  purgeStream(stream: string, subject: string): Promise<number>;
  /** Flushes what is buffered (acks) and closes, within the deadline. */
  close(deadline: Deadline): Promise<void>;
}
