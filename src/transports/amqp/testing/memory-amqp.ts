import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { TestClientError } from "../../../testing/errors.js";
import { throughTheWire } from "../field-table/round-trip.js";
import type { ConnectFunction } from "../options.js";
import type {
  AMQPChannel,
  AMQPConfirmChannel,
  AMQPConnection,
  ConsumeMessage,
  GetMessage,
  MessageProperties,
  Options,
  QueueInfo,
} from "../port.js";
import { ChannelClosedError } from "../port.js";
import { DIRECT_REPLY_TO } from "../requester.js";
import { BrokerError, channelClosedError } from "./broker-error.js";
import {
  type ConsumerSlot,
  type DeadLetterResult,
  exchangeSettings,
  type MemoryBroker,
  type MemoryQueue,
  queueSettings,
  type StoredMessage,
  streamStart,
} from "./memory-broker.js";

/**
 * The port weir's AMQP transport talks to (port.ts: AMQPConnection, AMQPChannel,
 * AMQPConfirmChannel), over the in-memory broker. Behaviour follows amqplib 2.x and RabbitMQ where weir depends on it: delivery tags per
 * channel from 1, prefetch per consumer or per channel (`global`), `ack(multiple)`, requeue on
 * channel close, a channel closed by the "server" on 404/406 with `error` then `close` events,
 * publisher confirms on a microtask, and operations on a closed channel throwing `Channel closed`.
 */

/** What happened to a delivery, as the test client records it. */
export type SettleAction = "ack" | "reject" | "requeue";

/** One delivery to weir, from the broker's side. */
export interface DeliveryRecord {
  readonly seq: number;
  readonly queue: MemoryQueue;
  readonly message: StoredMessage;
  readonly deliveryTag: number;
  readonly redelivered: boolean;
}

/** What the fake channels report to the test client. */
export interface ChannelObserver {
  delivered(delivery: DeliveryRecord): void;
  /** `deadLettered`: where a rejected message went through its queue's dead-letter exchange. */
  settled(
    delivery: DeliveryRecord,
    action: SettleAction,
    seq: number,
    deadLettered: DeadLetterResult | undefined,
  ): void;
  /** A channel error weir caused (an unknown delivery tag, say): a bug to surface in tests. */
  channelError(error: BrokerError): void;
}

interface Unacked {
  readonly record: DeliveryRecord;
  readonly consumer: MemoryConsumer | undefined;
}

type ConsumeCallback = (message: ConsumeMessage | null) => void;
type ConfirmCallback = (error: Error | null) => void;

function nextTick(): Promise<void> {
  return Promise.resolve();
}

function channelClosed(): Error {
  // The port's closed-channel error (isClosedChannelError), worded as amqplib's.
  return new ChannelClosedError("Channel closed");
}

/**
 * The delivery behind each message handed to weir, so that the test client can tell which
 * deliveries a handler call received (weir's `AMQPMessage` keeps the object it was given).
 */
const deliveries = new WeakMap<ConsumeMessage, DeliveryRecord>();

/** The broker's record of a message it delivered to a consumer; `undefined` for any other object. */
export function deliveryOf(message: ConsumeMessage): DeliveryRecord | undefined {
  return deliveries.get(message);
}

class MemoryConsumer implements ConsumerSlot {
  count = 0;
  cancelled = false;
  streamCursor: number | undefined;

  constructor(
    readonly tag: string,
    readonly queue: MemoryQueue,
    private readonly channel: MemoryChannel,
    private readonly callback: ConsumeCallback,
    readonly noAck: boolean,
    private readonly prefetch: number,
  ) {}

  hasRoom(): boolean {
    if (this.cancelled || this.channel.closed) return false;
    if (this.noAck) return true;
    return (this.prefetch === 0 || this.count < this.prefetch) && this.channel.globalRoom();
  }

  deliver(message: StoredMessage, queue: MemoryQueue): void {
    const delivery = this.channel.track(message, queue, this.noAck ? undefined : this);
    const consumeMessage: ConsumeMessage = {
      content: message.content,
      fields: {
        deliveryTag: delivery.deliveryTag,
        redelivered: delivery.redelivered,
        exchange: message.exchange,
        routingKey: message.routingKey,
        consumerTag: this.tag,
      },
      properties: message.properties,
    };
    deliveries.set(consumeMessage, delivery);
    this.callback(consumeMessage);
  }

  cancelledByBroker(): void {
    this.cancelled = true;
    this.channel.forget(this);
    this.callback(null);
  }
}

/** A channel of the in-memory broker, plain or in confirm mode: the port's channel types. */
export class MemoryChannel extends EventEmitter implements AMQPChannel, AMQPConfirmChannel {
  closed = false;
  private nextTag = 1;
  private readonly unacked = new Map<number, Unacked>();
  private readonly consumers = new Map<string, MemoryConsumer>();
  private consumerPrefetch = 0;
  private channelPrefetch = 0;
  private confirmSeq = 0;
  /** This channel's direct reply-to queue, once it consumes `amq.rabbitmq.reply-to`. */
  private replyQueue: string | undefined;
  private readonly confirms = new Map<number, ConfirmCallback | undefined>();
  private confirmWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(
    private readonly connection: MemoryConnection,
    private readonly broker: MemoryBroker,
    private readonly observer: ChannelObserver,
    readonly vhost: string,
    private readonly confirm: boolean,
  ) {
    super();
  }

  // ---- used by consumers ----

  globalRoom(): boolean {
    return this.channelPrefetch === 0 || this.unacked.size < this.channelPrefetch;
  }

  /** Gives `message` a delivery tag; `consumer` undefined: auto-ack, "manual": a basic.get to settle. */
  track(
    message: StoredMessage,
    queue: MemoryQueue,
    consumer: MemoryConsumer | "manual" | undefined,
  ): DeliveryRecord {
    const record: DeliveryRecord = {
      seq: this.broker.tick(),
      queue,
      message,
      deliveryTag: this.nextTag++,
      redelivered: message.redelivered,
    };
    this.observer.delivered(record);
    if (consumer === undefined) {
      this.observer.settled(record, "ack", this.broker.tick(), undefined);
    } else if (consumer === "manual") {
      this.unacked.set(record.deliveryTag, { record, consumer: undefined });
    } else {
      consumer.count++;
      this.unacked.set(record.deliveryTag, { record, consumer });
    }
    return record;
  }

  forget(consumer: MemoryConsumer): void {
    this.consumers.delete(consumer.tag);
  }

  // ---- amqplib Channel ----

  async prefetch(count: number, global = false): Promise<Record<string, never>> {
    await this.rpc(() => undefined);
    if (global) this.channelPrefetch = count;
    else this.consumerPrefetch = count;
    return {};
  }

  qos(count: number, global = false): Promise<Record<string, never>> {
    return this.prefetch(count, global);
  }

  assertQueue(queue: string, options?: Options.AssertQueue): Promise<QueueInfo> {
    return this.rpc(() => {
      const declared = this.broker.assertQueue(this.vhost, queue ?? "", queueSettings(options));
      // An exclusive queue belongs to its connection and goes with it.
      if (declared.settings.exclusive) this.connection.own(declared);
      return {
        queue: declared.name,
        messageCount: declared.ready.length,
        consumerCount: declared.consumers.length,
      };
    });
  }

  checkQueue(queue: string): Promise<QueueInfo> {
    return this.rpc(() => {
      const found = this.broker.queue(this.vhost, queue);
      return { queue, messageCount: found.ready.length, consumerCount: found.consumers.length };
    });
  }

  deleteQueue(queue: string): Promise<{ messageCount: number }> {
    return this.rpc(() => ({ messageCount: this.broker.deleteQueue(this.vhost, queue) }));
  }

  purgeQueue(queue: string): Promise<{ messageCount: number }> {
    return this.rpc(() => ({ messageCount: this.broker.purgeQueue(this.vhost, queue) }));
  }

  assertExchange(
    exchange: string,
    type: string,
    options?: Options.AssertExchange,
  ): Promise<{ exchange: string }> {
    return this.rpc(() => {
      this.broker.assertExchange(this.vhost, exchange, type, exchangeSettings(options));
      return { exchange };
    });
  }

  checkExchange(exchange: string): Promise<Record<string, never>> {
    return this.rpc(() => {
      this.broker.checkExchange(this.vhost, exchange);
      return {};
    });
  }

  deleteExchange(exchange: string): Promise<Record<string, never>> {
    return this.rpc(() => {
      this.broker.deleteExchange(this.vhost, exchange);
      return {};
    });
  }

  bindQueue(
    queue: string,
    source: string,
    pattern: string,
    args?: Record<string, unknown>,
  ): Promise<Record<string, never>> {
    return this.rpc(() => {
      this.broker.bindQueue(this.vhost, queue, source, pattern, args ?? {});
      return {};
    });
  }

  unbindQueue(queue: string, source: string, pattern: string): Promise<Record<string, never>> {
    return this.rpc(() => {
      this.broker.unbindQueue(this.vhost, queue, source, pattern);
      return {};
    });
  }

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options?: Options.Publish,
    callback?: ConfirmCallback,
  ): boolean {
    if (this.closed) throw channelClosed();
    let properties = publishProperties(options ?? {});
    let failure: BrokerError | undefined;
    try {
      if (properties.replyTo === DIRECT_REPLY_TO) properties = this.withReplyQueue(properties);
      this.broker.checkPublishable(this.vhost, exchange);
      this.broker.publish(this.vhost, exchange, routingKey, content, properties);
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      failure = error;
    }
    if (this.confirm) {
      const tag = ++this.confirmSeq;
      this.confirms.set(tag, callback);
      // The confirm comes back later, as from the socket; an unknown exchange closes the channel
      // instead, which fails every unconfirmed publish (amqplib: "channel closed").
      void nextTick().then(() => (failure ? this.failByServer(failure) : this.confirmed(tag)));
    } else if (failure) {
      const error = failure;
      void nextTick().then(() => this.failByServer(error));
    }
    return true;
  }

  sendToQueue(
    queue: string,
    content: Buffer,
    options?: Options.Publish,
    callback?: ConfirmCallback,
  ): boolean {
    return this.publish("", queue, content, options, callback);
  }

  waitForConfirms(): Promise<void> {
    if (this.confirms.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.confirmWaiters.push({ resolve, reject }));
  }

  async consume(
    queue: string,
    callback: ConsumeCallback,
    options?: Options.Consume,
  ): Promise<{ consumerTag: string }> {
    return this.rpc(() => {
      const target =
        queue === DIRECT_REPLY_TO ? this.replyQueueFor(options) : this.broker.queue(this.vhost, queue);
      if (options?.priority !== undefined || options?.arguments?.["x-priority"] !== undefined) {
        throw new TestClientError(
          "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
          "the in-memory broker does not implement consumer priorities (x-priority); test a route with consumer.priority against RabbitMQ",
        );
      }
      const tag = options?.consumerTag ?? `amq.ctag-${randomUUID()}`;
      const cursor = this.streamCursor(target, options);
      const consumer = new MemoryConsumer(
        tag,
        target,
        this,
        callback,
        options?.noAck === true,
        this.consumerPrefetch,
      );
      consumer.streamCursor = cursor;
      this.broker.addConsumer(target, consumer, options?.exclusive === true);
      this.consumers.set(tag, consumer);
      return { consumerTag: tag };
    });
  }

  /**
   * A stream consumer's first offset, with RabbitMQ's checks: manual acks and a per-consumer
   * prefetch are required (406 otherwise).
   */
  private streamCursor(target: MemoryQueue, options: Options.Consume | undefined): number | undefined {
    if (target.log === undefined) return undefined;
    if (options?.noAck === true) {
      throw new BrokerError(406, "PRECONDITION_FAILED - stream queues require manual acknowledgement");
    }
    if (this.consumerPrefetch === 0) {
      throw new BrokerError(406, "PRECONDITION_FAILED - consumer prefetch count is not set for stream queue");
    }
    return streamStart(target.log, options?.arguments?.["x-stream-offset"]);
  }

  async cancel(consumerTag: string): Promise<{ consumerTag: string }> {
    return this.rpc(() => {
      const consumer = this.consumers.get(consumerTag);
      if (consumer !== undefined) {
        consumer.cancelled = true;
        this.consumers.delete(consumerTag);
        this.broker.removeConsumer(consumer.queue, consumer);
      }
      return { consumerTag };
    });
  }

  get(queue: string, options?: Options.Get): Promise<GetMessage | false> {
    return this.rpc(() => {
      const source = this.broker.queue(this.vhost, queue);
      if (source.log !== undefined) {
        throw new BrokerError(405, `RESOURCE_LOCKED - cannot basic.get from stream queue '${queue}'`);
      }
      const message = this.broker.take(source);
      if (message === undefined) return false;
      const delivery = this.track(message, source, options?.noAck === true ? undefined : "manual");
      return {
        content: message.content,
        fields: {
          deliveryTag: delivery.deliveryTag,
          redelivered: delivery.redelivered,
          exchange: message.exchange,
          routingKey: message.routingKey,
          messageCount: source.ready.length,
        },
        properties: message.properties,
      };
    });
  }

  ack(message: { fields: { deliveryTag: number } }, allUpTo = false): void {
    this.settle(message.fields.deliveryTag, allUpTo, "ack");
  }

  ackAll(): void {
    this.settleAll("ack");
  }

  nack(message: { fields: { deliveryTag: number } }, allUpTo = false, requeue = true): void {
    this.settle(message.fields.deliveryTag, allUpTo, requeue ? "requeue" : "reject");
  }

  nackAll(requeue = true): void {
    this.settleAll(requeue ? "requeue" : "reject");
  }

  reject(message: { fields: { deliveryTag: number } }, requeue = true): void {
    this.settle(message.fields.deliveryTag, false, requeue ? "requeue" : "reject");
  }

  async recover(): Promise<Record<string, never>> {
    return this.rpc(() => ({}));
  }

  async close(): Promise<void> {
    if (this.closed) throw channelClosed();
    await nextTick();
    this.shutDown(undefined);
  }

  // ---- internals ----

  /**
   * Direct reply-to (https://www.rabbitmq.com/docs/direct-reply-to): consuming the pseudo-queue
   * `amq.rabbitmq.reply-to` (no-ack only, as RabbitMQ requires) gives the channel a private queue;
   * a publish from this channel with `replyTo: "amq.rabbitmq.reply-to"` carries that queue's name,
   * and a reply published to it comes back to this channel's consumer. It goes with the channel.
   */
  private replyQueueFor(options: Options.Consume | undefined): MemoryQueue {
    if (options?.noAck !== true) {
      throw new BrokerError(406, "PRECONDITION_FAILED - reply consumer cannot acknowledge");
    }
    const queue = this.broker.assertQueue(this.vhost, `${DIRECT_REPLY_TO}.${randomUUID()}`, {
      durable: false,
      exclusive: true,
      autoDelete: true,
      arguments: {},
    });
    this.connection.own(queue);
    this.replyQueue = queue.name;
    return queue;
  }

  private withReplyQueue(properties: MessageProperties): MessageProperties {
    if (this.replyQueue === undefined) {
      throw new BrokerError(406, "PRECONDITION_FAILED - fast reply consumer does not exist");
    }
    return { ...properties, replyTo: this.replyQueue };
  }

  private async rpc<T>(operation: () => T): Promise<T> {
    // A round trip: the answer never comes back inside the call.
    await nextTick();
    if (this.closed) throw channelClosed();
    try {
      return operation();
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      // RabbitMQ answers a failed declare, check or bind by closing the channel.
      this.failByServer(error);
      const failed = new BrokerError(error.code, `Operation failed: ${error.message}`);
      throw failed;
    }
  }

  private settle(tag: number, allUpTo: boolean, action: SettleAction): void {
    if (this.closed) throw channelClosed();
    const tags = allUpTo ? [...this.unacked.keys()].filter((candidate) => candidate <= tag) : [tag];
    if (action !== "ack" && tags.some((each) => this.unacked.get(each)?.record.queue.log !== undefined)) {
      // RabbitMQ answers a reject or a requeue on a stream by closing the connection (540); here
      // the channel closes, which is enough to fail a test.
      const error = channelClosedError(
        540,
        "NOT_IMPLEMENTED - stream queues do not support reject or requeue",
      );
      this.observer.channelError(error);
      void nextTick().then(() => this.failByServer(error));
      return;
    }
    if (!this.unacked.has(tag)) {
      // RabbitMQ closes the channel on an unknown (or already settled) tag: in weir, a bug.
      const error = channelClosedError(406, `PRECONDITION_FAILED - unknown delivery tag ${tag}`);
      this.observer.channelError(error);
      void nextTick().then(() => this.failByServer(error));
      return;
    }
    for (const each of inSettleOrder(tags, action)) this.settleOne(each, action);
    this.refill();
  }

  private settleAll(action: SettleAction): void {
    if (this.closed) throw channelClosed();
    for (const tag of inSettleOrder([...this.unacked.keys()], action)) this.settleOne(tag, action);
    this.refill();
  }

  private settleOne(tag: number, action: SettleAction): void {
    const entry = this.unacked.get(tag);
    if (entry === undefined) return;
    this.unacked.delete(tag);
    if (entry.consumer) entry.consumer.count--;
    const { record } = entry;
    if (record.queue.log !== undefined) {
      // A stream keeps its messages: an ack gives credit, a closing channel returns nothing.
      this.observer.settled(record, action === "ack" ? "ack" : action, this.broker.tick(), undefined);
      return;
    }
    let deadLettered: DeadLetterResult | undefined;
    // A message taken with basic.get goes straight back, as on RabbitMQ: only deliveries to
    // consumers are held, because only those could loop.
    if (action === "requeue") this.broker.requeue(record.queue, record.message, entry.consumer !== undefined);
    else if (action === "reject")
      deadLettered = this.broker.deadLetter(record.queue, record.message, "rejected");
    this.observer.settled(record, action, this.broker.tick(), deadLettered);
  }

  /** Room was freed: the queues of this channel's consumers may deliver again. */
  private refill(): void {
    for (const consumer of this.consumers.values()) this.broker.schedule(consumer.queue);
    this.broker.changed();
  }

  private confirmed(tag: number): void {
    if (!this.confirms.has(tag)) return;
    const callback = this.confirms.get(tag);
    this.confirms.delete(tag);
    callback?.(null);
    if (this.confirms.size === 0) {
      const waiters = this.confirmWaiters;
      this.confirmWaiters = [];
      for (const waiter of waiters) waiter.resolve();
    }
  }

  /** The "server" closes the channel: `error`, then `close`, as amqplib emits them. */
  failByServer(error: BrokerError): void {
    if (this.closed) return;
    this.shutDown(error);
  }

  /** Closes the channel; its unacked deliveries go back to their queues, as RabbitMQ does. */
  shutDown(error: BrokerError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    for (const consumer of this.consumers.values()) {
      consumer.cancelled = true;
      this.broker.removeConsumer(consumer.queue, consumer);
    }
    this.consumers.clear();
    for (const tag of inSettleOrder([...this.unacked.keys()], "requeue")) this.settleOne(tag, "requeue");
    const lost = new Error("channel closed");
    for (const callback of this.confirms.values()) callback?.(lost);
    const unconfirmed = this.confirms.size > 0;
    this.confirms.clear();
    for (const waiter of this.confirmWaiters.splice(0)) {
      if (unconfirmed) waiter.reject(lost);
      else waiter.resolve();
    }
    this.connection.release(this);
    if (error !== undefined && this.listenerCount("error") > 0) this.emit("error", error);
    this.emit("close");
    this.broker.changed();
  }
}

/**
 * Tags in the order to settle them: oldest first, except requeues, newest first, since each goes
 * back to the head of its queue and the oldest must end up in front, as RabbitMQ keeps them.
 */
function inSettleOrder(tags: number[], action: SettleAction): number[] {
  return tags.sort((a, b) => (action === "requeue" ? b - a : a - b));
}

/** amqplib's publish options → the properties a consumer receives (amqplib's own mapping). */
function publishProperties(options: Options.Publish): MessageProperties {
  // Written and read back as bytes, as through RabbitMQ (a Date arrives as a Date, a long as a BigInt).
  const headers = throughTheWire(options.headers as Record<string, unknown> | undefined);
  let deliveryMode: number | undefined;
  if (options.persistent !== undefined) deliveryMode = options.persistent ? 2 : 1;
  else if (typeof options.deliveryMode === "number") deliveryMode = options.deliveryMode;
  else if (options.deliveryMode) deliveryMode = 2;
  const expiration = options.expiration;
  return {
    contentType: options.contentType,
    contentEncoding: options.contentEncoding,
    headers,
    deliveryMode,
    priority: options.priority,
    correlationId: options.correlationId,
    replyTo: options.replyTo,
    expiration: expiration === undefined ? undefined : String(expiration),
    messageId: options.messageId,
    timestamp: options.timestamp,
    type: options.type,
    userId: options.userId,
    appId: options.appId,
    clusterId: undefined,
  } as MessageProperties;
}

/** A connection of the in-memory broker to one vhost: the port's connection type. */
export class MemoryConnection extends EventEmitter implements AMQPConnection {
  closed = false;
  readonly connection = { serverProperties: { product: "weir in-memory broker" } };
  /** Headers are handed over as published (bigints, Dates included): no decoder to install. */
  readonly decodesHeaders = true;
  private readonly channels = new Set<MemoryChannel>();
  private readonly exclusiveQueues = new Set<MemoryQueue>();

  constructor(
    private readonly broker: MemoryBroker,
    private readonly observer: ChannelObserver,
    readonly vhost: string,
    private readonly onClosed: (connection: MemoryConnection) => void,
  ) {
    super();
  }

  createChannel(): Promise<MemoryChannel> {
    return this.open(false);
  }

  createConfirmChannel(): Promise<MemoryChannel> {
    return this.open(true);
  }

  private async open(confirm: boolean): Promise<MemoryChannel> {
    await nextTick();
    if (this.closed) throw new ChannelClosedError("Connection closed");
    const channel = new MemoryChannel(this, this.broker, this.observer, this.vhost, confirm);
    this.channels.add(channel);
    return channel;
  }

  /** An exclusive queue this connection declared: deleted when it closes. */
  own(queue: MemoryQueue): void {
    this.exclusiveQueues.add(queue);
  }

  release(channel: MemoryChannel): void {
    this.channels.delete(channel);
  }

  async updateSecret(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) throw new ChannelClosedError("Connection closed");
    await nextTick();
    this.shutDown(undefined);
  }

  /** The broker drops the connection (a network failure): channels close, then the connection. */
  drop(): void {
    this.shutDown(
      new Error('Connection closed: 320 (CONNECTION-FORCED) with message "closed by the test client"'),
    );
  }

  private shutDown(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    for (const channel of [...this.channels]) channel.shutDown(undefined);
    for (const queue of this.exclusiveQueues) {
      if (!queue.deleted) this.broker.deleteQueue(queue.vhost, queue.name);
    }
    this.exclusiveQueues.clear();
    this.onClosed(this);
    if (error !== undefined && this.listenerCount("error") > 0) this.emit("error", error);
    this.emit("close", error);
  }
}

/** The vhost a connection URL names (its path), as weir builds it; `/` when empty. */
function vhostOf(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path.length > 1 ? decodeURIComponent(path.slice(1)) : "/";
  } catch {
    return "/";
  }
}

/**
 * A `connect` that opens connections to the in-memory broker whatever the URL's host: the test
 * client hands it to the app's AMQP transport, so no socket is ever opened.
 */
export function memoryConnect(
  broker: MemoryBroker,
  observer: ChannelObserver,
  connections: Set<MemoryConnection>,
): ConnectFunction {
  return async (url) => {
    await nextTick();
    const connection = new MemoryConnection(broker, observer, vhostOf(url), (closed) =>
      connections.delete(closed),
    );
    connections.add(connection);
    return connection;
  };
}
