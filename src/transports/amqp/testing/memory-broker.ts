import { randomUUID } from "node:crypto";
import { TestClientError } from "../../../testing/errors.js";
import { cloneHeaders, headersToRepublish, wasDecoded } from "../field-table/decode.js";
import { throughTheWire } from "../field-table/round-trip.js";
import type { MessageProperties, Options } from "../port.js";
import { DELIVERY_COUNT_HEADER } from "../queue-type.js";
import { outsideHandlerCalls } from "./attribution.js";
import { BrokerError } from "./broker-error.js";

/**
 * The state of weir/testing's in-memory broker: vhosts, queues, exchanges, bindings, ready
 * messages, dead-lettering and TTLs, with RabbitMQ's semantics where weir depends on them. The
 * amqplib-shaped connection and channels that weir talks to live in memory-amqp.ts; this file knows
 * nothing of delivery tags. Timers are the global `setTimeout`, so fake timers drive TTLs too.
 */

/** A message in a queue. */
export interface StoredMessage {
  /** Kept through requeues and dead-lettering: the identity the test client follows. */
  readonly trace: number;
  readonly content: Buffer;
  properties: MessageProperties;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  expiresAt?: number;
  ttlTimer?: NodeJS.Timeout;
  /** Its place in its queue, given when it is enqueued: a requeue puts it back there. */
  position?: number;
}

/** A queue's declaration, with amqplib's defaults applied. */
export interface QueueSettings {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** What a queue needs from a consumer; the fake channel implements it. */
export interface ConsumerSlot {
  readonly tag: string;
  /** Whether its prefetch (per consumer, and its channel's global one) allows one more delivery. */
  hasRoom(): boolean;
  deliver(message: StoredMessage, queue: MemoryQueue): void;
  /** The broker cancelled it (its queue was deleted): amqplib calls the consume callback with null. */
  cancelledByBroker(): void;
  /** On a stream queue: the offset of the next message this consumer reads. */
  streamCursor?: number;
}

/** One message of a stream queue's log, with when it was stored (ms since the epoch). */
export interface StreamEntry {
  readonly message: StoredMessage;
  readonly storedAt: number;
}

export class MemoryQueue {
  readonly ready: StoredMessage[] = [];
  readonly consumers: ConsumerSlot[] = [];
  /** Whether a consumer holds it exclusively (`basic.consume` exclusive): no other may join. */
  exclusiveConsumer = false;
  /** An auto-delete queue is deleted once its last consumer goes (after it had one). */
  hadConsumer = false;
  /** Round-robin position among the consumers, as RabbitMQ spreads deliveries. */
  next = 0;
  scheduled = false;
  deleted = false;
  /**
   * A stream queue's append-only log (`x-queue-type: stream`): messages stay after they are read,
   * each consumer reads from its own cursor; undefined on other queues.
   */
  readonly log: StreamEntry[] | undefined;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly settings: QueueSettings,
  ) {
    const type = settings.arguments["x-queue-type"];
    this.log = typeof type === "string" && type.toLowerCase() === "stream" ? [] : undefined;
  }
}

/**
 * Where a stream consumer starts (`x-stream-offset`, https://www.rabbitmq.com/docs/streams):
 * "first", "last" (the last message: each message is its own chunk here), "next" (the default), an
 * absolute offset, or a timestamp (`{ "!": "timestamp", value: seconds }`, a Date, or seconds as
 * amqplib's encoding gives them back) read as the first message stored at or after it.
 */
export function streamStart(log: readonly StreamEntry[], argument: unknown): number {
  if (argument === undefined || argument === "next") return log.length;
  if (argument === "first") return 0;
  if (argument === "last") return Math.max(0, log.length - 1);
  if (typeof argument === "number" || typeof argument === "bigint") {
    return Math.min(Math.max(0, Number(argument)), log.length);
  }
  let ms: number | undefined;
  if (argument instanceof Date) ms = argument.getTime();
  else if (
    typeof argument === "object" &&
    argument !== null &&
    (argument as { "!"?: unknown })["!"] === "timestamp"
  ) {
    ms = Number((argument as { value: unknown }).value) * 1000;
  }
  if (ms === undefined || Number.isNaN(ms)) {
    throw new BrokerError(406, `PRECONDITION_FAILED - invalid x-stream-offset ${String(argument)}`);
  }
  const at = log.findIndex((entry) => entry.storedAt >= ms);
  return at === -1 ? log.length : at;
}

type ExchangeType = "direct" | "fanout" | "topic" | "headers";

interface Binding {
  readonly queue: string;
  readonly pattern: string;
  readonly args: Readonly<Record<string, unknown>>;
}

interface Exchange {
  readonly name: string;
  readonly type: ExchangeType;
  readonly settings: ExchangeSettings;
  bindings: Binding[];
}

/** An exchange's declaration, amqplib's defaults applied (`alternateExchange` in `arguments`). */
export interface ExchangeSettings {
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** The exchange arguments the in-memory broker enforces: only the alternate exchange. */
export const ENFORCED_EXCHANGE_ARGUMENTS: ReadonlySet<string> = new Set(["alternate-exchange"]);

/**
 * amqplib's `assertExchange` options → the exchange's settings.
 * @throws TestClientError `WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT` for an exchange argument other than
 * `alternate-exchange`.
 */
export function exchangeSettings(options: Options.AssertExchange | undefined): ExchangeSettings {
  const args: Record<string, unknown> = { ...options?.arguments };
  if (options?.alternateExchange !== undefined) args["alternate-exchange"] = options.alternateExchange;
  for (const key of Object.keys(args)) {
    if (!ENFORCED_EXCHANGE_ARGUMENTS.has(key)) {
      throw new TestClientError(
        "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
        `the in-memory broker does not enforce the exchange argument "${key}"; it enforces alternate-exchange (docs/testing.md). Test a route that needs "${key}" against RabbitMQ`,
      );
    }
  }
  return {
    durable: options?.durable ?? true,
    autoDelete: options?.autoDelete ?? false,
    internal: options?.internal ?? false,
    arguments: args,
  };
}

const BUILT_IN: ExchangeSettings = { durable: true, autoDelete: false, internal: false, arguments: {} };

class Vhost {
  readonly queues = new Map<string, MemoryQueue>();
  readonly exchanges = new Map<string, Exchange>();

  constructor() {
    for (const [name, type] of [
      ["amq.direct", "direct"],
      ["amq.fanout", "fanout"],
      ["amq.topic", "topic"],
      ["amq.headers", "headers"],
      ["amq.match", "headers"],
    ] as const) {
      this.exchanges.set(name, { name, type, settings: BUILT_IN, bindings: [] });
    }
  }
}

/** Why the broker dead-lettered a message (RabbitMQ's `x-death` reasons weir can meet). */
export type DeathReason = "rejected" | "expired";

/** What the test client hears from the broker. */
export interface BrokerObserver {
  published(record: PublishRecord): void;
  deadLettered(message: StoredMessage, from: MemoryQueue, reason: DeathReason, to: readonly string[]): void;
  changed(): void;
}

/** One publish, as the broker routed it. */
export interface PublishRecord {
  /** Position in the broker's event order (publishes, deliveries, settlements share one counter). */
  readonly seq: number;
  readonly trace: number;
  readonly vhost: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly properties: MessageProperties;
  /** The queues it reached (empty: unroutable, dropped as RabbitMQ drops it). */
  readonly queues: readonly string[];
}

/** Where the broker dead-lettered a message, and the headers (`x-death`, ...) it went with. */
export interface DeadLetterResult {
  readonly queues: readonly string[];
  readonly headers: Readonly<Record<string, unknown>>;
}

/** What a requeued message does in the test broker. */
export type RequeuePolicy = "hold" | "redeliver";

const QUEUE_ARGUMENT_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ["expires", "x-expires"],
  ["messageTtl", "x-message-ttl"],
  ["deadLetterExchange", "x-dead-letter-exchange"],
  ["deadLetterRoutingKey", "x-dead-letter-routing-key"],
  ["maxLength", "x-max-length"],
  ["maxPriority", "x-max-priority"],
  ["overflow", "x-overflow"],
  ["queueMode", "x-queue-mode"],
];

/**
 * The queue arguments the in-memory broker enforces, with RabbitMQ's semantics
 * (https://www.rabbitmq.com/docs/dlx, https://www.rabbitmq.com/docs/ttl): dead-lettering on a
 * reject without requeue or an expiry, with `x-death`; the per-queue message TTL; the queue type,
 * classic or quorum (both behave as a classic queue here: see docs/testing.md for what that leaves out).
 */
export const ENFORCED_QUEUE_ARGUMENTS: ReadonlySet<string> = new Set([
  "x-dead-letter-exchange",
  "x-dead-letter-routing-key",
  "x-message-ttl",
  "x-queue-type",
]);

/**
 * Queue arguments accepted without being enforced, each with the reason. `x-expires` is the lease
 * weir's own delay queues (retries, `task.delay`) take, about twice their delay: the queue outlives
 * every message it holds, so a test sees no difference while it runs.
 */
export const UNENFORCED_QUEUE_ARGUMENTS: Readonly<Record<string, string>> = {
  "x-expires": "the lease of weir's own delay queues; a queue that would expire holds no message by then",
  "x-dead-letter-strategy":
    "at-least-once dead-lettering of weir's quorum delay queues; the in-memory broker never loses a dead letter",
};

/**
 * `x-overflow: reject-publish` on a queue without a length limit: what at-least-once dead-lettering
 * requires of a quorum queue (weir's quorum delay queues), and nothing to enforce (no limit).
 */
function nothingToOverflow(key: string, args: Readonly<Record<string, unknown>>): boolean {
  return (
    key === "x-overflow" &&
    args[key] === "reject-publish" &&
    args["x-max-length"] === undefined &&
    args["x-max-length-bytes"] === undefined
  );
}

const QUEUE_TYPES = new Set(["classic", "quorum", "stream"]);

/**
 * Refuses what the broker would accept and then ignore (`x-max-length`, `x-overflow`,
 * `x-max-priority`, `x-delivery-limit`, `x-single-active-consumer`, ...): a test passing against a
 * broker that never applied them would say nothing about the app on RabbitMQ.
 */
function refuseUnenforced(args: Readonly<Record<string, unknown>>): void {
  for (const key of Object.keys(args)) {
    if (key in UNENFORCED_QUEUE_ARGUMENTS || nothingToOverflow(key, args)) continue;
    if (!ENFORCED_QUEUE_ARGUMENTS.has(key)) {
      throw new TestClientError(
        "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
        `the in-memory broker does not enforce the queue argument "${key}"; it enforces ${[
          ...ENFORCED_QUEUE_ARGUMENTS,
        ].join(", ")} (docs/testing.md). Test a route that needs "${key}" against RabbitMQ`,
      );
    }
  }
  const type = args["x-queue-type"];
  if (type !== undefined && !(typeof type === "string" && QUEUE_TYPES.has(type))) {
    throw new TestClientError(
      "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
      `the in-memory broker does not implement x-queue-type ${JSON.stringify(type)}; it has classic, quorum and stream queues`,
    );
  }
}

/**
 * amqplib's `assertQueue` options → the queue's settings (amqplib's defaults: durable).
 * @throws TestClientError `WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT` for a queue argument the broker does
 * not enforce (see {@link ENFORCED_QUEUE_ARGUMENTS}).
 */
export function queueSettings(options: Options.AssertQueue | undefined): QueueSettings {
  const given: Record<string, unknown> = { ...options };
  const args: Record<string, unknown> = {};
  // amqplib builds the table with Object.create(options.arguments): inherited keys count too.
  const table = given.arguments;
  if (typeof table === "object" && table !== null) {
    for (const key in table) args[key] = (table as Record<string, unknown>)[key];
  }
  for (const [option, argument] of QUEUE_ARGUMENT_OPTIONS) {
    if (given[option] !== undefined) args[argument] = given[option];
  }
  refuseUnenforced(args);
  return {
    durable: given.durable === undefined ? true : Boolean(given.durable),
    exclusive: Boolean(given.exclusive),
    autoDelete: Boolean(given.autoDelete),
    arguments: args,
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function topicMatches(pattern: string, key: string): boolean {
  const words = key === "" ? [] : key.split(".");
  const parts = pattern === "" ? [] : pattern.split(".");
  const match = (p: number, w: number): boolean => {
    if (p === parts.length) return w === words.length;
    const part = parts[p];
    if (part === "#") {
      for (let skip = w; skip <= words.length; skip++) if (match(p + 1, skip)) return true;
      return false;
    }
    if (w === words.length) return false;
    return (part === "*" || part === words[w]) && match(p + 1, w + 1);
  };
  return match(0, 0);
}

function headersMatch(args: Readonly<Record<string, unknown>>, headers: Record<string, unknown>): boolean {
  const any = args["x-match"] === "any";
  const keys = Object.keys(args).filter((key) => !key.startsWith("x-"));
  const hits = keys.filter(
    (key) => key in headers && (args[key] === undefined || sameValue(args[key], headers[key])),
  );
  return any ? hits.length > 0 : hits.length === keys.length;
}

function ttlOf(queue: MemoryQueue, message: StoredMessage): number | undefined {
  const queueTtl = queue.settings.arguments["x-message-ttl"];
  const expiration = message.properties.expiration;
  const messageTtl = expiration === undefined || expiration === null ? undefined : Number(expiration);
  const candidates = [typeof queueTtl === "number" ? queueTtl : undefined, messageTtl].filter(
    (value): value is number => value !== undefined && Number.isFinite(value) && value >= 0,
  );
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}

export class MemoryBroker {
  /** One counter for publishes, deliveries and settlements, so the test client can order them. */
  seq = 0;
  /** Requeued messages held back (policy "hold"), oldest first. */
  readonly held: Array<{ queue: MemoryQueue; message: StoredMessage }> = [];
  private nextTrace = 1;
  private nextPosition = 1;
  private readonly vhosts = new Map<string, Vhost>();
  private closed = false;

  constructor(
    private readonly observer: BrokerObserver,
    private readonly requeuePolicy: RequeuePolicy,
  ) {}

  tick(): number {
    return ++this.seq;
  }

  newTrace(): number {
    return this.nextTrace++;
  }

  changed(): void {
    this.observer.changed();
  }

  private vhost(name: string): Vhost {
    let vhost = this.vhosts.get(name);
    if (vhost === undefined) {
      vhost = new Vhost();
      this.vhosts.set(name, vhost);
    }
    return vhost;
  }

  /** Every queue, for the test client's idle check and listings. */
  *allQueues(): Iterable<MemoryQueue> {
    for (const vhost of this.vhosts.values()) yield* vhost.queues.values();
  }

  findQueue(vhost: string, name: string): MemoryQueue | undefined {
    return this.vhosts.get(vhost)?.queues.get(name);
  }

  queue(vhost: string, name: string): MemoryQueue {
    const queue = this.findQueue(vhost, name);
    if (queue === undefined) throw new BrokerError(404, `NOT_FOUND - no queue '${name}' in vhost '${vhost}'`);
    return queue;
  }

  assertQueue(vhost: string, name: string, settings: QueueSettings): MemoryQueue {
    const queueName = name === "" ? `amq.gen-${randomUUID()}` : name;
    const queues = this.vhost(vhost).queues;
    const existing = queues.get(queueName);
    if (existing !== undefined) {
      this.checkEquivalent(existing, settings);
      return existing;
    }
    if (settings.arguments["x-queue-type"] === "quorum") {
      // RabbitMQ: a quorum queue is durable, never exclusive nor auto-delete (406 on the declare).
      const refused = !settings.durable
        ? "non-durable"
        : settings.exclusive
          ? "exclusive-owner"
          : settings.autoDelete
            ? "auto-delete"
            : undefined;
      if (refused !== undefined) {
        throw new BrokerError(
          406,
          `PRECONDITION_FAILED - invalid property '${refused}' for queue '${queueName}' in vhost '${vhost}'`,
        );
      }
    }
    const queue = new MemoryQueue(vhost, queueName, settings);
    queues.set(queueName, queue);
    this.changed();
    return queue;
  }

  private checkEquivalent(queue: MemoryQueue, settings: QueueSettings): void {
    const where = `for queue '${queue.name}' in vhost '${queue.vhost}'`;
    for (const field of ["durable", "exclusive", "autoDelete"] as const) {
      if (queue.settings[field] !== settings[field]) {
        throw new BrokerError(406, `PRECONDITION_FAILED - inequivalent arg '${field}' ${where}`);
      }
    }
    const keys = new Set([...Object.keys(queue.settings.arguments), ...Object.keys(settings.arguments)]);
    for (const key of keys) {
      if (!sameValue(queue.settings.arguments[key], settings.arguments[key])) {
        throw new BrokerError(
          406,
          `PRECONDITION_FAILED - inequivalent arg '${key}' ${where}: received ${JSON.stringify(
            settings.arguments[key] ?? "none",
          )} but current is ${JSON.stringify(queue.settings.arguments[key] ?? "none")}`,
        );
      }
    }
  }

  deleteQueue(vhost: string, name: string): number {
    const queue = this.findQueue(vhost, name);
    if (queue === undefined) return 0;
    this.vhosts.get(vhost)?.queues.delete(name);
    queue.deleted = true;
    const count = queue.ready.length;
    for (const message of queue.ready.splice(0)) clearTimeout(message.ttlTimer);
    for (const consumer of queue.consumers.splice(0)) consumer.cancelledByBroker();
    for (const exchange of [...this.vhost(vhost).exchanges.values()]) {
      const before = exchange.bindings.length;
      exchange.bindings = exchange.bindings.filter((binding) => binding.queue !== name);
      this.autoDeleteExchange(vhost, exchange, before);
    }
    this.changed();
    return count;
  }

  purgeQueue(vhost: string, name: string): number {
    const queue = this.queue(vhost, name);
    const count = queue.ready.length;
    for (const message of queue.ready.splice(0)) clearTimeout(message.ttlTimer);
    this.changed();
    return count;
  }

  assertExchange(vhost: string, name: string, type: string, settings: ExchangeSettings): void {
    if (name === "") return;
    const where = `for exchange '${name}' in vhost '${vhost}'`;
    if (name.startsWith("amq.") && !this.vhost(vhost).exchanges.has(name)) {
      throw new BrokerError(403, `ACCESS_REFUSED - exchange name '${name}' contains reserved prefix 'amq.*'`);
    }
    const exchanges = this.vhost(vhost).exchanges;
    const existing = exchanges.get(name);
    if (existing !== undefined) {
      // RabbitMQ's wording, so that weir's TopologyError reads both values the same way.
      const inequivalent = (arg: string, received: unknown, current: unknown) =>
        new BrokerError(
          406,
          `PRECONDITION_FAILED - inequivalent arg '${arg}' ${where}: received '${String(received)}' but current is '${String(current)}'`,
        );
      if (existing.type !== type) throw inequivalent("type", type, existing.type);
      for (const field of ["durable", "autoDelete", "internal"] as const) {
        if (existing.settings[field] !== settings[field]) {
          throw inequivalent(
            field === "autoDelete" ? "auto_delete" : field,
            settings[field],
            existing.settings[field],
          );
        }
      }
      const keys = new Set([...Object.keys(existing.settings.arguments), ...Object.keys(settings.arguments)]);
      for (const key of keys) {
        if (!sameValue(existing.settings.arguments[key], settings.arguments[key])) {
          throw inequivalent(
            key,
            settings.arguments[key] ?? "none",
            existing.settings.arguments[key] ?? "none",
          );
        }
      }
      return;
    }
    if (!["direct", "fanout", "topic", "headers"].includes(type)) {
      throw new BrokerError(503, `COMMAND_INVALID - unknown exchange type '${type}'`);
    }
    exchanges.set(name, { name, type: type as ExchangeType, settings, bindings: [] });
  }

  /** RabbitMQ deletes an auto-delete exchange when its last binding goes (not when it never had one). */
  private autoDeleteExchange(vhost: string, exchange: Exchange, before: number): void {
    if (exchange.settings.autoDelete && before > 0 && exchange.bindings.length === 0) {
      this.vhost(vhost).exchanges.delete(exchange.name);
    }
  }

  /** A client may not publish to an internal exchange (403, closing the channel). */
  checkPublishable(vhost: string, exchange: string): void {
    if (this.vhost(vhost).exchanges.get(exchange)?.settings.internal === true) {
      throw new BrokerError(
        403,
        `ACCESS_REFUSED - cannot publish to internal exchange '${exchange}' in vhost '${vhost}'`,
      );
    }
  }

  checkExchange(vhost: string, name: string): void {
    if (name !== "" && !this.vhost(vhost).exchanges.has(name)) {
      throw new BrokerError(404, `NOT_FOUND - no exchange '${name}' in vhost '${vhost}'`);
    }
  }

  deleteExchange(vhost: string, name: string): void {
    this.vhost(vhost).exchanges.delete(name);
  }

  bindQueue(
    vhost: string,
    queue: string,
    exchange: string,
    pattern: string,
    args: Record<string, unknown>,
  ): void {
    this.queue(vhost, queue);
    this.checkExchange(vhost, exchange);
    if (exchange === "")
      throw new BrokerError(403, "ACCESS_REFUSED - operation not permitted on the default exchange");
    const target = this.vhost(vhost).exchanges.get(exchange)!;
    // A binding is its queue, key and arguments (two header matches with key "" are two bindings).
    const same = (binding: Binding) =>
      binding.queue === queue && binding.pattern === pattern && sameValue(binding.args, args);
    if (!target.bindings.some(same)) {
      target.bindings.push({ queue, pattern, args: { ...args } });
    }
  }

  unbindQueue(vhost: string, queue: string, exchange: string, pattern: string): void {
    const target = this.vhost(vhost).exchanges.get(exchange);
    if (target === undefined) return;
    const before = target.bindings.length;
    target.bindings = target.bindings.filter(
      (binding) => !(binding.queue === queue && binding.pattern === pattern),
    );
    this.autoDeleteExchange(vhost, target, before);
  }

  /** The queues a message published to `exchange` with `routingKey` reaches; throws 404 for an unknown exchange. */
  route(
    vhost: string,
    exchange: string,
    routingKey: string,
    headers: Record<string, unknown>,
    visited: ReadonlySet<string> = new Set(),
  ): string[] {
    const state = this.vhost(vhost);
    if (exchange === "") return state.queues.has(routingKey) ? [routingKey] : [];
    const target = state.exchanges.get(exchange);
    if (target === undefined)
      throw new BrokerError(404, `NOT_FOUND - no exchange '${exchange}' in vhost '${vhost}'`);
    const queues = new Set<string>();
    for (const binding of target.bindings) {
      const hit =
        target.type === "fanout" ||
        (target.type === "direct" && binding.pattern === routingKey) ||
        (target.type === "topic" && topicMatches(binding.pattern, routingKey)) ||
        (target.type === "headers" && headersMatch(binding.args, headers));
      if (hit && state.queues.has(binding.queue)) queues.add(binding.queue);
    }
    // Unroutable here: RabbitMQ hands it to the alternate exchange, if that exists (and no loop).
    const alternate = target.settings.arguments["alternate-exchange"];
    if (
      queues.size === 0 &&
      typeof alternate === "string" &&
      state.exchanges.has(alternate) &&
      !visited.has(alternate)
    ) {
      return this.route(vhost, alternate, routingKey, headers, new Set([...visited, exchange]));
    }
    return [...queues];
  }

  /** Routes and stores a published message; throws a 404 `BrokerError` for an unknown exchange. */
  publish(
    vhost: string,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: MessageProperties,
  ): PublishRecord {
    const queues = this.route(vhost, exchange, routingKey, properties.headers ?? {});
    const trace = this.newTrace();
    const record: PublishRecord = {
      seq: this.tick(),
      trace,
      vhost,
      exchange,
      routingKey,
      content,
      properties,
      queues,
    };
    for (const name of queues) {
      this.enqueue(this.queue(vhost, name), {
        trace,
        content,
        properties: { ...properties, headers: cloneHeaders(properties.headers ?? {}) },
        exchange,
        routingKey,
        redelivered: false,
      });
    }
    this.observer.published(record);
    this.changed();
    return record;
  }

  /** Puts a message on a queue (back in its place for a requeue, as RabbitMQ keeps its position) and delivers. */
  enqueue(queue: MemoryQueue, message: StoredMessage, atHead = false): void {
    if (queue.deleted || this.closed) return;
    const headers = message.properties.headers;
    // Every header the broker stores is read as a consumer would read it (the test client's
    // deliver() and publishes come so already; anything else is made so here).
    if (headers === undefined || !wasDecoded(headers)) {
      message.properties = { ...message.properties, headers: throughTheWire(headers) };
    }
    const ttl = ttlOf(queue, message);
    if (ttl !== undefined) {
      message.expiresAt ??= Date.now() + ttl;
      const timer = setTimeout(
        () => this.expire(queue, message),
        Math.max(0, message.expiresAt - Date.now()),
      );
      // A pending TTL must not keep a test process alive on its own.
      timer.unref?.();
      message.ttlTimer = timer;
    }
    if (queue.log !== undefined) {
      // A stream appends and numbers every message; RabbitMQ gives each delivery its offset.
      const offset = queue.log.length;
      message.properties = {
        ...message.properties,
        headers: throughTheWire({ ...message.properties.headers, "x-stream-offset": offset }),
      };
      queue.log.push({ message, storedAt: Date.now() });
      this.schedule(queue);
      return;
    }
    if (atHead && message.position !== undefined) {
      // RabbitMQ puts a requeued message back in its place among the ready ones, so that
      // deliveries requeued one by one, in any order, come back in their queue order.
      const place = message.position;
      const at = queue.ready.findIndex((ready) => (ready.position ?? Number.POSITIVE_INFINITY) > place);
      if (at === -1) queue.ready.push(message);
      else queue.ready.splice(at, 0, message);
    } else {
      message.position = this.nextPosition++;
      queue.ready.push(message);
    }
    this.schedule(queue);
  }

  /** Takes the next ready message (basic.get). */
  take(queue: MemoryQueue): StoredMessage | undefined {
    const message = queue.ready.shift();
    if (message !== undefined) clearTimeout(message.ttlTimer);
    return message;
  }

  private expire(queue: MemoryQueue, message: StoredMessage): void {
    const at = queue.ready.indexOf(message);
    if (at === -1) return;
    queue.ready.splice(at, 1);
    this.deadLetter(queue, message, "expired");
    this.changed();
  }

  /**
   * Dead-letters `message` out of `queue` through its `x-dead-letter-exchange`, with RabbitMQ's
   * `x-death` bookkeeping; returns the queues it reached (none: dropped, as RabbitMQ drops it).
   */
  deadLetter(queue: MemoryQueue, message: StoredMessage, reason: DeathReason): DeadLetterResult {
    const args = queue.settings.arguments;
    const exchange = args["x-dead-letter-exchange"];
    if (typeof exchange !== "string") {
      this.observer.deadLettered(message, queue, reason, []);
      return { queues: [], headers: message.properties.headers ?? {} };
    }
    const dlKey = args["x-dead-letter-routing-key"];
    const routingKey = typeof dlKey === "string" ? dlKey : message.routingKey;
    // RabbitMQ keeps every header's type as it came, and adds its own.
    const received: Record<string, unknown> = message.properties.headers ?? {};
    const headers: Record<string, unknown> = { ...headersToRepublish(received) };
    // The count belongs to the queue it was delivered from: RabbitMQ's dead letter has none.
    delete headers[DELIVERY_COUNT_HEADER];
    const deaths = Array.isArray(received["x-death"])
      ? [...(received["x-death"] as Record<string, unknown>[])]
      : [];
    const at = deaths.findIndex((death) => death.queue === queue.name && death.reason === reason);
    const previous = at === -1 ? undefined : deaths.splice(at, 1)[0];
    deaths.unshift({
      count: (typeof previous?.count === "number" ? previous.count : 0) + 1,
      reason,
      queue: queue.name,
      time: new Date(),
      exchange: message.exchange,
      "routing-keys": [message.routingKey],
    });
    headers["x-death"] = deaths;
    headers["x-first-death-reason"] ??= reason;
    headers["x-first-death-queue"] ??= queue.name;
    headers["x-first-death-exchange"] ??= message.exchange;
    headers["x-last-death-reason"] = reason;
    headers["x-last-death-queue"] = queue.name;
    headers["x-last-death-exchange"] = message.exchange;
    // RabbitMQ drops the per-message TTL of a dead letter, so it does not expire again at once.
    const properties: MessageProperties = {
      ...message.properties,
      headers: throughTheWire(headers),
      expiration: undefined,
    };
    let targets: string[];
    try {
      targets = this.route(queue.vhost, exchange, routingKey, properties.headers ?? {});
    } catch {
      targets = [];
    }
    for (const name of targets) {
      this.enqueue(this.queue(queue.vhost, name), {
        trace: message.trace,
        content: message.content,
        properties: { ...properties, headers: cloneHeaders(properties.headers ?? {}) },
        exchange,
        routingKey,
        redelivered: false,
      });
    }
    this.observer.deadLettered(message, queue, reason, targets);
    return { queues: targets, headers: properties.headers ?? {} };
  }

  /**
   * A delivery was requeued (reject, nack, or its channel closed). `mayHold`: it went to a
   * consumer, so under the "hold" policy it waits for `releaseHeld()` instead of looping.
   */
  requeue(queue: MemoryQueue, message: StoredMessage, mayHold: boolean): void {
    message.redelivered = true;
    if (queue.settings.arguments["x-queue-type"] === "quorum") {
      // A quorum queue counts the deliveries that came back (RabbitMQ 3.10+: x-delivery-count,
      // absent on the first delivery).
      const received: Record<string, unknown> = message.properties.headers ?? {};
      const count = received[DELIVERY_COUNT_HEADER];
      message.properties = {
        ...message.properties,
        headers: throughTheWire({
          ...headersToRepublish(received),
          [DELIVERY_COUNT_HEADER]: (typeof count === "number" ? count : 0) + 1,
        }),
      };
    }
    if (mayHold && this.requeuePolicy === "hold") this.held.push({ queue, message });
    else this.enqueue(queue, message, true);
  }

  /** Puts every held message back on its queue, flagged `redelivered`; returns their traces. */
  releaseHeld(): number[] {
    // Oldest message first, whatever order they were requeued in (a closing channel goes newest first).
    const held = this.held.splice(0).sort((a, b) => a.message.trace - b.message.trace);
    for (const { queue, message } of held) this.enqueue(queue, message);
    this.changed();
    return held.map(({ message }) => message.trace);
  }

  /**
   * @throws BrokerError 403 when the queue has an exclusive consumer, or `exclusive` is asked while
   * it has any consumer (RabbitMQ: "in exclusive use").
   */
  addConsumer(queue: MemoryQueue, consumer: ConsumerSlot, exclusive = false): void {
    if (queue.exclusiveConsumer || (exclusive && queue.consumers.length > 0)) {
      throw new BrokerError(
        403,
        `ACCESS_REFUSED - queue '${queue.name}' in vhost '${queue.vhost}' in exclusive use`,
      );
    }
    queue.exclusiveConsumer = exclusive;
    queue.hadConsumer = true;
    queue.consumers.push(consumer);
    this.schedule(queue);
  }

  removeConsumer(queue: MemoryQueue, consumer: ConsumerSlot): void {
    const at = queue.consumers.indexOf(consumer);
    if (at !== -1) queue.consumers.splice(at, 1);
    if (queue.consumers.length === 0) queue.exclusiveConsumer = false;
    // RabbitMQ deletes an auto-delete queue when its last consumer goes (docs "Queues": auto-delete).
    if (queue.settings.autoDelete && queue.hadConsumer && queue.consumers.length === 0 && !queue.deleted) {
      this.deleteQueue(queue.vhost, queue.name);
      return;
    }
    this.changed();
  }

  /**
   * Delivers on a microtask, never a timer: fake timers must not stop the broker, and a promise job
   * is what a socket read looks like to weir (a delivery never runs inside the call that caused it).
   */
  schedule(queue: MemoryQueue): void {
    if (queue.scheduled) return;
    queue.scheduled = true;
    // A delivery starts outside any handler call, as a socket read does: else a message published
    // by one route's handler would be consumed (and settled, retried...) inside that call's context.
    outsideHandlerCalls(() => {
      void Promise.resolve().then(() => {
        queue.scheduled = false;
        this.dispatch(queue);
      });
    });
  }

  private dispatch(queue: MemoryQueue): void {
    if (queue.log !== undefined) {
      this.dispatchStream(queue, queue.log);
      return;
    }
    while (queue.ready.length > 0 && queue.consumers.length > 0 && !queue.deleted) {
      const count = queue.consumers.length;
      let consumer: ConsumerSlot | undefined;
      for (let i = 0; i < count; i++) {
        const candidate = queue.consumers[(queue.next + i) % count]!;
        if (candidate.hasRoom()) {
          consumer = candidate;
          queue.next = (queue.next + i + 1) % count;
          break;
        }
      }
      if (consumer === undefined) break;
      const message = this.take(queue)!;
      consumer.deliver(message, queue);
    }
    this.changed();
  }

  /** Every consumer of a stream reads the whole log from its own cursor, as far as its prefetch allows. */
  private dispatchStream(queue: MemoryQueue, log: readonly StreamEntry[]): void {
    for (const consumer of [...queue.consumers]) {
      while (!queue.deleted && (consumer.streamCursor ?? log.length) < log.length && consumer.hasRoom()) {
        const entry = log[consumer.streamCursor!]!;
        consumer.streamCursor!++;
        consumer.deliver(entry.message, queue);
      }
    }
    this.changed();
  }

  /** Stops every TTL timer; the broker accepts nothing afterwards. */
  close(): void {
    this.closed = true;
    for (const queue of this.allQueues()) for (const message of queue.ready) clearTimeout(message.ttlTimer);
    for (const { message } of this.held) clearTimeout(message.ttlTimer);
  }
}
