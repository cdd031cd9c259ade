import type { ConsumeMessage, GetMessage, Message, MessageProperties, Options } from "amqplib";

/**
 * The port the AMQP transport talks to: the connection and channel operations it uses, and
 * nothing else (issue #16). Two implementations, both checked by the compiler against these types:
 * amqplib (`amqplib-port.ts`, RabbitMQ) and weir/testing's in-memory broker (`testing/memory-amqp.ts`).
 *
 * The operations are the port's; the data shapes (a delivered message, publish and declare options)
 * are amqplib's type-only declarations, which are AMQP 0-9-1's fields as amqplib names them.
 * Semantics follow AMQP 0-9-1 as RabbitMQ implements it: delivery tags count from 1 per channel,
 * a failed declare, check or bind closes the channel (the returned promise rejects with the reply
 * code, then `error` and `close` are emitted), a requeued delivery goes back to its queue's head
 * flagged `redelivered`, confirms arrive in publish order, and a deleted queue cancels its consumers
 * (`basic.cancel`, the consume callback called with `null`). test/amqp/channel-contract.test.ts runs
 * the same cases against both implementations.
 */

export type { ConsumeMessage, GetMessage, Message, MessageProperties, Options };

/** What `queue.declare` (active or passive) answers. */
export interface QueueInfo {
  readonly queue: string;
  readonly messageCount: number;
  readonly consumerCount: number;
}

/** An event map: event name → the listener's arguments. */
type EventMap = Record<string, unknown[]>;

/** The events of an implementation, on EventEmitter's methods. */
export interface PortEmitter<E extends EventMap> {
  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): unknown;
  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): unknown;
  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): unknown;
}

/** A channel's events. `error` comes before `close` when the server closed the channel. */
export interface ChannelEvents extends EventMap {
  error: [error: Error];
  close: [];
  /** The write buffer has room again after `publish()` returned false. */
  drain: [];
  /** A `mandatory` publish the broker could not route (`basic.return`). */
  return: [message: Message];
}

/** A connection's events. */
export interface ConnectionEvents extends EventMap {
  error: [error: Error];
  /** `error` is set when the connection was lost rather than closed by `close()`. */
  close: [error?: Error];
  /** `connection.blocked` (a RabbitMQ extension): a resource alarm stops publishing. */
  blocked: [reason: string];
  unblocked: [];
}

/** An AMQP channel (amqplib's `Channel`). */
export interface AMQPChannel extends PortEmitter<ChannelEvents> {
  /** `basic.qos`: per consumer (`global` false) or for the whole channel. */
  prefetch(count: number, global?: boolean): Promise<unknown>;
  assertQueue(queue: string, options?: Options.AssertQueue): Promise<QueueInfo>;
  /** A passive declare: rejects with code 404 (and closes the channel) when the queue is missing. */
  checkQueue(queue: string): Promise<QueueInfo>;
  deleteQueue(queue: string): Promise<{ messageCount: number }>;
  purgeQueue(queue: string): Promise<{ messageCount: number }>;
  assertExchange(exchange: string, type: string, options?: Options.AssertExchange): Promise<unknown>;
  bindQueue(queue: string, source: string, pattern: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Returns false when the write buffer is full (wait for `drain`). */
  publish(exchange: string, routingKey: string, content: Buffer, options?: Options.Publish): boolean;
  sendToQueue(queue: string, content: Buffer, options?: Options.Publish): boolean;
  /** `onMessage(null)`: the broker cancelled the consumer (its queue was deleted). */
  consume(
    queue: string,
    onMessage: (message: ConsumeMessage | null) => void,
    options?: Options.Consume,
  ): Promise<{ consumerTag: string }>;
  cancel(consumerTag: string): Promise<unknown>;
  get(queue: string, options?: Options.Get): Promise<GetMessage | false>;
  ack(message: Message, allUpTo?: boolean): void;
  nack(message: Message, allUpTo?: boolean, requeue?: boolean): void;
  nackAll(requeue?: boolean): void;
  reject(message: Message, requeue?: boolean): void;
  close(): Promise<void>;
}

/** The broker's answer to one confirmed publish: `null` for `basic.ack`, an error for a nack or a lost channel. */
// biome-ignore lint/suspicious/noExplicitAny: amqplib's callback type; narrowed by the callers.
export type ConfirmCallback = (error: any) => void;

/** A channel in confirm mode (amqplib's `ConfirmChannel`): confirms come back in publish order. */
export interface AMQPConfirmChannel extends AMQPChannel {
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options?: Options.Publish,
    callback?: ConfirmCallback,
  ): boolean;
  sendToQueue(queue: string, content: Buffer, options?: Options.Publish, callback?: ConfirmCallback): boolean;
  /** Resolves once every publish so far is confirmed; rejects when one was nacked or lost. */
  waitForConfirms(): Promise<void>;
}

/** A connection to one vhost (amqplib's `ChannelModel`). */
export interface AMQPConnection extends PortEmitter<ConnectionEvents> {
  /**
   * @internal `true` when the connection hands message headers over as weir's own decoder would
   * (weir/testing's in-memory broker): weir then installs no decoder on it. Unset on amqplib's.
   */
  readonly decodesHeaders?: boolean;
  createChannel(): Promise<AMQPChannel>;
  createConfirmChannel(): Promise<AMQPConfirmChannel>;
  close(): Promise<void>;
}

/**
 * What an implementation throws for an operation on a channel (or connection) that is closed or
 * closing. Named as amqplib names its own (`IllegalOperationError`), so code that reads `name` sees
 * one kind of error whichever implementation threw it.
 */
export class ChannelClosedError extends Error {
  constructor(message = "Channel closed") {
    super(message);
    this.name = "IllegalOperationError";
  }
}

/**
 * Whether `error` means the channel it came from is closed: an operation refused because the channel
 * (or its connection) is closed or closing (amqplib's `IllegalOperationError`, the port's
 * {@link ChannelClosedError}), or the server's channel or connection close (`channel.close` with a
 * reply code such as 404 NOT_FOUND or 406 PRECONDITION_FAILED, which amqplib reports with `code` and
 * `classId`; AMQP 0-9-1 §1.8.5: a failed method closes its channel). Such a channel takes no more
 * operations: open a new one.
 */
export function isClosedChannelError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "IllegalOperationError") return true;
  const { code, classId } = error as { code?: unknown; classId?: unknown };
  return typeof code === "number" && typeof classId === "number";
}
