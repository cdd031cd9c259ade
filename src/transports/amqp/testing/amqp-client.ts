import { clearTimeout as clearRealTimeout, setTimeout as realTimeout } from "node:timers";
import { decodeBody, UNDECODABLE } from "../../../core/codec/body.js";
import { knownKeys } from "../../../core/validate.js";
import type { WaitOptions } from "../../../testing/driver.js";
import { TestClientError } from "../../../testing/errors.js";
import { cloneHeaders } from "../field-table/decode.js";
import { throughTheWire } from "../field-table/round-trip.js";
import type { AMQPMessage } from "../message.js";
import type { MessageProperties } from "../port.js";
import { encodeBody } from "../publisher.js";
import { DIRECT_REPLY_TO } from "../requester.js";
import { currentHandlerCall, type HandlerCall, type HandlerCallObserver } from "./attribution.js";
import type { BrokerError } from "./broker-error.js";
import { type ChannelObserver, type DeliveryRecord, deliveryOf, type SettleAction } from "./memory-amqp.js";
import type {
  BrokerObserver,
  DeadLetterResult,
  MemoryBroker,
  MemoryQueue,
  PublishRecord,
  StoredMessage,
} from "./memory-broker.js";

/** What weir did with a delivered message, as the broker saw it. */
export type DeliveryOutcome = "ack" | "reject" | "requeue" | "retry" | "dead-letter";

/** A message the app published (handlers, `app.amqp.publish`, typed publishers, `task.delay`). */
export interface PublishedMessage {
  readonly vhost: string;
  readonly exchange: string;
  readonly routingKey: string;
  /** The queues the broker routed it to; empty when it was unroutable (RabbitMQ drops those). */
  readonly queues: readonly string[];
  /** Decoded as weir decodes a delivery (JSON, decompressed bytes); the raw Buffer when it cannot be. */
  readonly body: unknown;
  readonly content: Buffer;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly properties: Readonly<MessageProperties>;
}

/** Where a retried or dead-lettered message went. */
export interface ForwardedMessage {
  /** The delay queue (`<queue>.retry.<ms>`) or the dead-letter queue. */
  readonly queue: string;
  /** Its headers there: weir's `x-weir-*` (attempts, error, reason) or the broker's `x-death`. */
  readonly headers: Readonly<Record<string, unknown>>;
}

/** One delivery and how weir settled it. */
export interface DeliveryResult {
  readonly outcome: DeliveryOutcome;
  readonly queue: string;
  readonly vhost: string;
  /** The body as delivered, decoded as weir decodes it (before any route schema). */
  readonly body: unknown;
  readonly content: Buffer;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly deliveryTag: number;
  readonly redelivered: boolean;
  /** For `retry` and `dead-letter`: where the message went. */
  readonly forwardedTo: ForwardedMessage | undefined;
  /**
   * What the handler call that received this message published (for a bulk, every message of the
   * bulk gets the bulk's publishes), followed through every await of that call; never what other
   * messages' handlers, HTTP requests or periodic tasks published meanwhile. weir's own forward of
   * this message (a retry, a dead letter) is `forwardedTo`, not here.
   */
  readonly published: readonly PublishedMessage[];
}

/** Options of `client.amqp.deliver`. */
export interface DeliverOptions {
  /**
   * The vhost of the queue.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Message headers.
   * @defaultValue none
   */
  headers?: Record<string, unknown>;
  /**
   * The content type. Bodies are JSON-encoded unless they are Buffers.
   * @defaultValue "application/json", or "application/octet-stream" for a Buffer
   */
  contentType?: string;
  /**
   * The content encoding (`gzip`, `deflate`, `br`): give the body as a Buffer already encoded.
   * weir decodes it as it decodes a delivery from the broker.
   * @defaultValue none
   */
  contentEncoding?: string;
  /**
   * The AMQP `message-id` (what `once` dedups on by default).
   * @defaultValue none
   */
  messageId?: string;
  /**
   * The AMQP `correlation-id`.
   * @defaultValue none
   */
  correlationId?: string;
  /**
   * Message priority.
   * @defaultValue none
   */
  priority?: number;
  /**
   * Deliver it flagged `redelivered`, as after a requeue.
   * @defaultValue false
   */
  redelivered?: boolean;
  /**
   * How long (real ms, not faked) to wait for every message to be settled before rejecting with
   * `WEIR_ERR_TEST_TIMEOUT`, which names the usual reason (a partial bulk waiting for its flush).
   * @defaultValue 10000
   */
  timeout?: number;
}

const DELIVER_KEYS = [
  "vhost",
  "headers",
  "contentType",
  "contentEncoding",
  "messageId",
  "correlationId",
  "priority",
  "redelivered",
  "timeout",
];

/** How long a client call may wait. */

/** Options of `client.amqp.messages(queue, options)`. */
export interface QueueLookupOptions {
  /**
   * The vhost of the queue.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
}

/** `client.amqp`: deliver messages to the app's AMQP routes through the in-memory broker. */
export interface TestAMQP {
  /**
   * Puts `bodies` on `queue` (one message each) and resolves, in order, with how weir settled each
   * one, once all are settled. A route with `bulkSize` above the count hands them over when its
   * `bulkFlushInterval` passes, as in production: advance fake timers meanwhile (docs/testing.md).
   */
  deliver(queue: string, bodies: readonly unknown[], options?: DeliverOptions): Promise<DeliveryResult[]>;
  /**
   * Delivers again every message weir requeued (the broker holds them, see `requeue` in the client
   * options), flagged `redelivered`, and resolves with their new outcomes.
   */
  redeliver(options?: WaitOptions): Promise<DeliveryResult[]>;
  /** Everything the app published, oldest first (retries and dead letters weir forwarded excluded). */
  readonly published: readonly PublishedMessage[];
  /** Every settlement so far, oldest first, whatever delivered the message (chains, retries, ...). */
  readonly settled: readonly DeliveryResult[];
  /** How many requeued messages the broker holds for `redeliver()`. */
  readonly held: number;
  /** The messages waiting in a queue (a dead-letter queue, a queue no route consumes, ...). */
  messages(queue: string, options?: QueueLookupOptions): PublishedMessage[];
  /** Resolves once no queue with a consumer has a message waiting and every delivery is settled. */
  idle(options?: WaitOptions): Promise<void>;
  /** Drops every broker connection, as a network failure would: weir reconnects and re-attaches. */
  dropConnections(): void;
  /** Forgets `published` and `settled`. */
  clear(): void;
  /** Channel errors weir caused (an unknown delivery tag: a double ack). Empty in a correct app. */
  readonly channelErrors: readonly Error[];
}

/** Whether a delivery came from a direct reply-to queue (a reply to one of the app's requests). */
function isReplyQueue(delivery: DeliveryRecord): boolean {
  return delivery.queue.name.startsWith(`${DIRECT_REPLY_TO}.`);
}

/** A delay queue dead-letters back into its origin: a message published to one is a retry. */
const RETRY_NAME = /(^|[.\-_])(retry|retries|delay|delayed)([.\-_]|$)/i;
const DEAD_LETTER_NAME = /(^|[.\-_])(dlq|dlx|dead|dead-?letters?|parking(-?lot)?|poison)([.\-_]|$)/i;

/** Decoded as weir decodes a delivery (core's body decoder); the raw Buffer when it cannot be. */
function decode(
  content: Buffer,
  properties: Pick<MessageProperties, "contentType" | "contentEncoding">,
): unknown {
  const body = decodeBody(content, properties.contentType, properties.contentEncoding);
  return body === UNDECODABLE ? content : body;
}

function toPublished(record: PublishRecord): PublishedMessage {
  return {
    vhost: record.vhost,
    exchange: record.exchange,
    routingKey: record.routingKey,
    queues: record.queues,
    body: decode(record.content, record.properties),
    content: record.content,
    headers: record.properties.headers ?? {},
    properties: record.properties,
  };
}

function stored(vhost: string, queue: string, message: StoredMessage): PublishedMessage {
  return {
    vhost,
    exchange: message.exchange,
    routingKey: message.routingKey,
    queues: [queue],
    body: decode(message.content, message.properties),
    content: message.content,
    headers: message.properties.headers ?? {},
    properties: message.properties,
  };
}

interface Expectation {
  resolve(result: DeliveryResult): void;
}

/** A publish recognised as weir forwarding one delivery (a retry, a dead letter). */
interface ClaimedForward {
  readonly record: PublishRecord;
  readonly kind: "retry" | "dead-letter";
  readonly queue: string;
}

/**
 * Watches the in-memory broker: records publishes, follows each delivery to its settlement and
 * turns what the broker saw into weir's outcome.
 *
 * The outcome is read off the broker, not off weir's internals, so it holds for any way a route
 * settles: an ack is an ack, unless the delivery was forwarded first: its own content was published
 * to a queue that leads back to the message's queue (a delay queue: "retry") or to a dead-letter
 * queue (its queue's dead-letter target, or a queue named like one: "dead-letter"). weir forwards
 * the very Buffer it received, so a forward is matched to its delivery by identity (by equal
 * content, among deliveries out of their handler, only when no Buffer matches). A reject without
 * requeue is "dead-letter" when the queue's dead-letter exchange routes it somewhere ("retry" when
 * that leads back), else "reject".
 *
 * What a delivery `published` is what the handler calls that received it published: each call runs
 * in an async context naming its deliveries (`attribution.ts`), read back here at each publish.
 */
export class Tracker implements BrokerObserver, ChannelObserver, HandlerCallObserver {
  broker!: MemoryBroker;
  readonly publishes: PublishRecord[] = [];
  readonly settlements: DeliveryResult[] = [];
  readonly channelErrors: BrokerError[] = [];
  /** Publishes recognised as weir's forwards (retries, dead letters). */
  private readonly forwards = new Set<PublishRecord>();
  /** Deliveries not settled yet, in delivery order. */
  private readonly unsettled = new Set<DeliveryRecord>();
  /** Deliveries whose handler call is running. */
  private readonly inHandler = new Set<DeliveryRecord>();
  /** What each unsettled delivery's handler calls published, oldest first. */
  private readonly causedBy = new Map<DeliveryRecord, PublishRecord[]>();
  /** The forward of each unsettled delivery that has one. */
  private readonly forwardOf = new Map<DeliveryRecord, ClaimedForward>();
  private readonly expected = new Map<number, Expectation>();
  private listeners = new Set<() => void>();

  published(record: PublishRecord): void {
    this.publishes.push(record);
    const call = currentHandlerCall();
    const inCall = call !== undefined && call.owner === this ? call : undefined;
    // A forward publishes the delivery's own Buffer; a handler may publish one too (its own DLQ
    // copy): either way it is that delivery's forward, as the broker sees it.
    if (this.claimForward(record, true) || (inCall === undefined && this.claimForward(record, false))) return;
    if (inCall === undefined) return;
    for (const delivery of inCall.deliveries) {
      if (!this.unsettled.has(delivery)) continue;
      const list = this.causedBy.get(delivery);
      if (list === undefined) this.causedBy.set(delivery, [record]);
      else list.push(record);
    }
  }

  deliveryOf(message: AMQPMessage): DeliveryRecord | undefined {
    return deliveryOf(message.delivery);
  }

  callStarted(call: HandlerCall): void {
    for (const delivery of call.deliveries) this.inHandler.add(delivery);
  }

  callEnded(call: HandlerCall): void {
    for (const delivery of call.deliveries) this.inHandler.delete(delivery);
  }

  deadLettered(): void {}

  changed(): void {
    if (this.listeners.size === 0) return;
    for (const listener of [...this.listeners]) listener();
  }

  delivered(delivery: DeliveryRecord): void {
    if (isReplyQueue(delivery)) return;
    this.unsettled.add(delivery);
  }

  channelError(error: BrokerError): void {
    this.channelErrors.push(error);
  }

  settled(
    delivery: DeliveryRecord,
    action: SettleAction,
    _seq: number,
    deadLettered: DeadLetterResult | undefined,
  ): void {
    // A reply coming back to `app.amqp.request`: weir's own consumer, not a route's delivery.
    if (isReplyQueue(delivery)) return;
    this.unsettled.delete(delivery);
    this.inHandler.delete(delivery);
    const forward = this.forwardOf.get(delivery);
    this.forwardOf.delete(delivery);
    const published = this.causedBy.get(delivery) ?? [];
    this.causedBy.delete(delivery);
    const { outcome, forwardedTo } = this.classify(delivery, action, forward, deadLettered);
    const message = delivery.message;
    const result: DeliveryResult = {
      outcome,
      queue: delivery.queue.name,
      vhost: delivery.queue.vhost,
      body: decode(message.content, message.properties),
      content: message.content,
      headers: message.properties.headers ?? {},
      deliveryTag: delivery.deliveryTag,
      redelivered: delivery.redelivered,
      forwardedTo,
      published: published.map(toPublished),
    };
    this.settlements.push(result);
    const expectation = this.expected.get(message.trace);
    if (expectation !== undefined) {
      this.expected.delete(message.trace);
      expectation.resolve(result);
    }
    this.changed();
  }

  /** A promise of the next settlement of the message `trace`. */
  expect(trace: number): Promise<DeliveryResult> {
    return new Promise((resolve) => this.expected.set(trace, { resolve }));
  }

  pending(): number {
    return this.expected.size;
  }

  forget(trace: number): void {
    this.expected.delete(trace);
  }

  get appPublished(): PublishedMessage[] {
    return this.publishes.filter((record) => !this.forwards.has(record)).map(toPublished);
  }

  /** Nothing waiting on a consumed queue, nothing delivered and unsettled. */
  isIdle(): boolean {
    if (this.unsettled.size > 0) return false;
    for (const queue of this.broker.allQueues()) {
      if (queue.consumers.length > 0 && (queue.ready.length > 0 || queue.scheduled)) return false;
      // A stream keeps its messages: waiting is what a consumer has not read yet.
      const log = queue.log;
      if (log !== undefined && queue.consumers.some((each) => (each.streamCursor ?? log.length) < log.length))
        return false;
    }
    return true;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clear(): void {
    this.publishes.length = 0;
    this.settlements.length = 0;
    this.forwards.clear();
  }

  private classify(
    delivery: DeliveryRecord,
    action: SettleAction,
    forward: ClaimedForward | undefined,
    deadLettered: DeadLetterResult | undefined,
  ): { outcome: DeliveryOutcome; forwardedTo: ForwardedMessage | undefined } {
    if (action === "requeue") return { outcome: "requeue", forwardedTo: undefined };
    if (action === "reject") {
      const queue = deadLettered?.queues[0];
      if (queue === undefined) return { outcome: "reject", forwardedTo: undefined };
      const outcome = deadLettered!.queues.some((name) => this.leadsBack(delivery.queue, name))
        ? "retry"
        : "dead-letter";
      return { outcome, forwardedTo: { queue, headers: deadLettered!.headers } };
    }
    if (forward === undefined) return { outcome: "ack", forwardedTo: undefined };
    return {
      outcome: forward.kind,
      forwardedTo: { queue: forward.queue, headers: forward.record.properties.headers ?? {} },
    };
  }

  /**
   * Whether `record` forwards an unsettled delivery (to a delay or dead-letter queue of its
   * origin), and if so records it as that delivery's forward. `exact`: the delivery's own Buffer;
   * otherwise equal content, from a delivery that is not in its handler (a forward follows it).
   */
  private claimForward(record: PublishRecord, exact: boolean): boolean {
    const target = record.queues[0] ?? (record.exchange === "" ? record.routingKey : undefined);
    if (target === undefined) return false;
    for (const delivery of this.unsettled) {
      if (this.forwardOf.has(delivery) || delivery.queue.vhost !== record.vhost) continue;
      const content = delivery.message.content;
      if (
        exact ? content !== record.content : this.inHandler.has(delivery) || !content.equals(record.content)
      ) {
        continue;
      }
      const kind = this.forwardKind(delivery.queue, target);
      if (kind === undefined) continue;
      this.forwards.add(record);
      this.forwardOf.set(delivery, { record, kind, queue: target });
      return true;
    }
    return false;
  }

  /** Whether a copy of a message of `origin`, published to `target`, is weir forwarding it. */
  private forwardKind(origin: MemoryQueue, target: string): "retry" | "dead-letter" | undefined {
    if (target === origin.name || this.leadsBack(origin, target)) return "retry";
    const deadLetterTargets = this.deadLetterTargets(origin, origin.name);
    if (deadLetterTargets.includes(target)) return "dead-letter";
    if (DEAD_LETTER_NAME.test(target) && target.startsWith(origin.name)) return "dead-letter";
    if (RETRY_NAME.test(target) && target.startsWith(origin.name)) return "retry";
    if (DEAD_LETTER_NAME.test(target)) return "dead-letter";
    return undefined;
  }

  /** Whether a message in `queue` comes back to `origin` through `queue`'s dead-letter exchange. */
  private leadsBack(origin: MemoryQueue, queue: string): boolean {
    return this.deadLetterTargets(this.broker.findQueue(origin.vhost, queue), origin.name).includes(
      origin.name,
    );
  }

  private deadLetterTargets(queue: MemoryQueue | undefined, routingKey: string): string[] {
    if (queue === undefined) return [];
    const exchange = queue.settings.arguments["x-dead-letter-exchange"];
    if (typeof exchange !== "string") return [];
    const key = queue.settings.arguments["x-dead-letter-routing-key"];
    try {
      return this.broker.route(queue.vhost, exchange, typeof key === "string" ? key : routingKey, {});
    } catch {
      return [];
    }
  }
}

/** Waits for `condition`, re-checked on every broker change; rejects after `timeoutMs` real ms. */
export function waitUntil(
  tracker: Tracker,
  condition: () => boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!condition()) return;
      finish();
      resolve();
    };
    const unsubscribe = tracker.onChange(() => {
      // After the change has run its course (a delivery's handler starts synchronously).
      void Promise.resolve().then(check);
    });
    // A real timer: fake timers must not freeze a test's safety net.
    const timer = realTimeout(() => {
      finish();
      reject(new TestClientError("WEIR_ERR_TEST_TIMEOUT", describe()));
    }, timeoutMs);
    timer.unref?.();
    function finish(): void {
      unsubscribe();
      clearRealTimeout(timer);
    }
  });
}

export const DEFAULT_TIMEOUT = 10_000;

/** Builds `client.amqp` over the broker; `start` starts the app first (idempotent). */
export function createTestAMQP(
  broker: MemoryBroker,
  tracker: Tracker,
  defaultVhost: string,
  start: () => Promise<void>,
  dropConnections: () => void,
): TestAMQP {
  const settleAll = async (
    traces: readonly number[],
    waits: readonly Promise<DeliveryResult>[],
    timeoutMs: number,
    what: string,
  ): Promise<DeliveryResult[]> => {
    let timer: ReturnType<typeof realTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = realTimeout(() => {
        for (const trace of traces) tracker.forget(trace);
        reject(
          new TestClientError(
            "WEIR_ERR_TEST_TIMEOUT",
            `${what}: not every message was settled within ${timeoutMs} ms. A route whose bulkSize is above ` +
              "the number of messages hands them over after its bulkFlushInterval: advance fake timers " +
              "(vi.advanceTimersByTimeAsync) or deliver a full bulk; otherwise the handler never returned.",
          ),
        );
      }, timeoutMs);
      timer.unref?.();
    });
    try {
      return await Promise.race([Promise.all(waits), timeout]);
    } finally {
      clearRealTimeout(timer);
    }
  };

  return {
    async deliver(queueName, bodies, options = {}) {
      knownKeys("deliver", options, DELIVER_KEYS);
      if (!Array.isArray(bodies)) {
        throw new TestClientError(
          "WEIR_ERR_TEST_BAD_ARGUMENT",
          "deliver(queue, bodies): bodies must be an array",
        );
      }
      await start();
      const vhost = options.vhost ?? defaultVhost;
      const queue = broker.findQueue(vhost, queueName);
      if (queue === undefined || queue.consumers.length === 0) {
        throw new TestClientError(
          "WEIR_ERR_TEST_NO_CONSUMER",
          `no route consumes queue "${queueName}" in vhost "${vhost}"` +
            (queue === undefined ? " (the queue does not exist)" : ""),
        );
      }
      // As RabbitMQ would deliver them; a value that cannot be sent rejects before anything is.
      const headers = throughTheWire(options.headers);
      const traces: number[] = [];
      const waits: Promise<DeliveryResult>[] = [];
      for (const body of bodies) {
        const { content, contentType } = encodeBody(body, options.contentType);
        const trace = broker.newTrace();
        traces.push(trace);
        waits.push(tracker.expect(trace));
        broker.enqueue(queue, {
          trace,
          content,
          properties: {
            contentType,
            contentEncoding: options.contentEncoding,
            headers: cloneHeaders(headers),
            deliveryMode: 2,
            priority: options.priority,
            correlationId: options.correlationId,
            replyTo: undefined,
            expiration: undefined,
            messageId: options.messageId,
            timestamp: undefined,
            type: undefined,
            userId: undefined,
            appId: undefined,
            clusterId: undefined,
          },
          exchange: "",
          routingKey: queueName,
          redelivered: options.redelivered === true,
        });
      }
      return settleAll(traces, waits, options.timeout ?? DEFAULT_TIMEOUT, `deliver("${queueName}")`);
    },

    async redeliver(options = {}) {
      knownKeys("redeliver", options, ["timeout"]);
      await start();
      const traces = broker.held.map(({ message }) => message.trace);
      const waits = traces.map((trace) => tracker.expect(trace));
      broker.releaseHeld();
      return settleAll(traces, waits, options.timeout ?? DEFAULT_TIMEOUT, "redeliver()");
    },

    get published() {
      return tracker.appPublished;
    },

    get settled() {
      return [...tracker.settlements];
    },

    get held() {
      return broker.held.length;
    },

    get channelErrors() {
      return [...tracker.channelErrors];
    },

    messages(queueName, options = {}) {
      knownKeys("messages", options, ["vhost"]);
      const vhost = options.vhost ?? defaultVhost;
      const queue = broker.findQueue(vhost, queueName);
      if (queue === undefined) return [];
      return queue.ready.map((message) => stored(vhost, queueName, message));
    },

    async idle(options = {}) {
      knownKeys("idle", options, ["timeout"]);
      await start();
      await waitUntil(
        tracker,
        () => tracker.isIdle(),
        options.timeout ?? DEFAULT_TIMEOUT,
        () =>
          "the app did not become idle: a consumed queue still has messages, or a delivery is unsettled " +
          "(a partial bulk waits for its bulkFlushInterval: advance fake timers)",
      );
    },

    dropConnections,

    clear() {
      tracker.clear();
    },
  };
}
