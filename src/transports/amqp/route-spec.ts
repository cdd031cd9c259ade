import { BULK_DEFAULTS, type BulkOptions } from "../../core/bulk-pipeline.js";
import { type Action, Actions, isAction, type RouteTypes } from "../../core/constants.js";
import { onceOption, type ResolvedOnce } from "../../core/consume/once/options.js";
import type { OnceOptions } from "../../core/consume/once/store.js";
import { InvalidOptionError } from "../../core/errors.js";
import { type HandlerContext, handlerTimeoutOption } from "../../core/handler-call.js";
import type { Logger } from "../../core/logger.js";
import { type SchemaOutput, type StandardSchemaV1, schemaOption } from "../../core/schema.js";
import type { RouteRecord } from "../../core/transport.js";
import { duration, knownKeys, positiveInteger } from "../../core/validate.js";
import { StreamQueueError } from "./consume-errors.js";
import { consumerTimeoutRisk } from "./consumer-timeout.js";
import type { AMQPMessage } from "./message.js";
import { declaresStream, prefetchShares } from "./qos.js";
import { declaredQueueType } from "./queue-type.js";
import { normalizeReply, type ReplyOptions, type ResolvedReply } from "./replies.js";
import { warnDeliveryLimit } from "./retry/delivery-limit.js";
import {
  type DeadLetterOptions,
  normalizeDeadLetter,
  normalizeRetry,
  type ResolvedDeadLetter,
  type ResolvedRetry,
  type RetryOptions,
} from "./retry/options.js";
import { normalizeStream, type ResolvedStream, type StreamOptions } from "./stream/options.js";
import {
  type BroadcastOptions,
  type ExchangeDeclaration,
  normalizeBindings,
  normalizeBroadcast,
  normalizeExchanges,
  type QueueBinding,
  type ResolvedBinding,
  type ResolvedExchange,
} from "./topology.js";

/** Per-route behaviour of an AMQP route (`options` in the route definition). */
export interface AMQPRouteOptions extends BulkOptions {
  /**
   * What happens to each message the handler did not settle itself, when the handler returns.
   * @defaultValue "ack"
   */
  onSuccess?: Action;
  /**
   * What happens to each message the handler did not settle itself, when the handler throws.
   * Not allowed beside `retry`, which decides what a thrown error does.
   * @defaultValue "requeue"
   */
  onException?: Action;
}

/** How weir declares a queue for a route that asks it to (`declare`). */
export interface QueueDeclareOptions {
  /** @defaultValue true */
  durable?: boolean;
  /** @defaultValue false */
  exclusive?: boolean;
  /** @defaultValue false */
  autoDelete?: boolean;
  /** Queue arguments, e.g. `{ "x-queue-type": "quorum", "x-dead-letter-exchange": "" }`. */
  arguments?: Record<string, unknown>;
}

/** How the route's consumers subscribe (`basic.consume`), and single active consumer. */
export interface ConsumerOptions {
  /**
   * Consumer priority (`x-priority`, RabbitMQ docs "Consumer Priorities"): while a higher-priority
   * consumer of the queue has room in its prefetch, lower ones get nothing. Any integer.
   * @defaultValue 0 (no argument sent)
   */
  priority?: number;
  /**
   * An exclusive consumer (`basic.consume` exclusive): the only consumer the queue accepts; the
   * broker refuses it (403) while the queue has another consumer, and another one while it is there.
   * @defaultValue false
   */
  exclusive?: boolean;
  /**
   * Single active consumer (`x-single-active-consumer`, RabbitMQ docs "Single Active Consumer"):
   * the declared queue delivers to one consumer at a time, the others wait and take over, in
   * order, when it goes. Needs `declare` (it is a queue argument, fixed when the queue is created).
   * Health tells whether this instance has received a delivery since it attached (`active`).
   * @defaultValue false
   */
  singleActiveConsumer?: boolean;
}

/** An AMQP route: its handler consumes every queue in the route's list. */
export interface AMQPRouteSpec<T = unknown> {
  type: typeof RouteTypes.AMQP;
  /**
   * The vhost of the route's queues.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Unacked messages this route may hold across all its queues. It is split into per-consumer
   * prefetches that add up to it (docs/architecture.md), the QoS every queue type accepts (quorum
   * and stream queues refuse a channel-wide one).
   * @defaultValue the app's `amqp.prefetch` (128)
   */
  prefetch?: number;
  /**
   * Declare the queues at start (and after every reconnect) instead of requiring them to exist.
   * `true` declares durable queues; an object gives the queue options.
   * @defaultValue false
   */
  declare?: boolean | QueueDeclareOptions;
  options?: AMQPRouteOptions;
  /**
   * Exchanges the route needs, declared at start and after every reconnect (before its queues are
   * bound). An exchange that exists with other arguments fails the start with
   * `WEIR_ERR_EXCHANGE_DECLARE`.
   * @defaultValue none
   */
  exchanges?: readonly ExchangeDeclaration[];
  /**
   * Bindings of the route's queues to exchanges (routing keys or header matches, several per
   * queue), made at start and after every reconnect. A binding to a missing exchange fails the start
   * with `WEIR_ERR_BIND`.
   * @defaultValue none
   */
  bindings?: readonly QueueBinding[];
  /**
   * A broadcast route: its one name is a label, and each app instance consumes its own
   * server-named, exclusive, auto-delete queue bound to `broadcast.exchange`, so every instance sees
   * every message. Not with `declare`, `bindings`, `retry` or `deadLetter` (the queue's name
   * changes with every connection).
   * @defaultValue off
   */
  broadcast?: BroadcastOptions;
  /** Consumer priority, exclusive consumers, single active consumer. */
  consumer?: ConsumerOptions;
  /**
   * Retry failed messages after a backoff, on the broker: a message whose handler throws (or that
   * calls `m.retry()`) waits in a delay queue and comes back; after `maxAttempts` it goes to the
   * dead-letter queue. Takes the place of `onException`. See docs/retries.md.
   * @defaultValue no retries: a thrown error applies `onException`
   */
  retry?: RetryOptions;
  /**
   * The route's dead-letter queue (`<queue>.dlq` unless `queue` is given, durable, declared by
   * weir): where exhausted retries, `UnrecoverableError`s, `m.deadLetter()`, invalid JSON and schema
   * failures go, with headers that say why. `false` turns it off on a route with `retry`.
   * @defaultValue on when `retry` is set, else off
   */
  deadLetter?: boolean | DeadLetterOptions;
  /**
   * Once-only processing: a message whose key was processed successfully within `ttl` ms is acked
   * without calling the handler.
   * @defaultValue off
   */
  once?: OnceOptions<T, AMQPMessage<T>>;
  /**
   * A Standard Schema v1 validator (zod, valibot, arktype, ...) for the body. The handler's body
   * type is inferred from it and it receives the schema's output; a body that fails never reaches
   * the handler and is dead-lettered (or rejected without requeue), its issues in a header.
   * @defaultValue no validation
   */
  schema?: StandardSchemaV1;
  /**
   * Answer requests: each message that carries `replyTo` (`app.amqp.request`, or any client using
   * RabbitMQ's direct reply-to or a reply queue) gets a reply with its `correlationId`, published
   * (handed to the publisher) before the message is settled. The reply is `m.reply(value)` when the handler called it, else
   * the element at the message's index in the array the handler returns; a failing handler replies
   * with its error (the caller's `RemoteError`), except to a message `retry` will run again.
   * A replying route's `onException` defaults to `"reject"` (not `"requeue"`): its caller already has
   * the error. See docs/amqp.md, "Request / reply".
   * @defaultValue false
   */
  reply?: boolean | ReplyOptions;
  /**
   * A route over a RabbitMQ stream queue (`x-queue-type: stream`): reads from `offset`, in bulks
   * as any route, and commits its consumer's offset after each settled bulk, so a restarted worker
   * resumes after the last committed message (a stored offset wins over `offset`). With `declare`,
   * the queue is declared as a stream. One queue per route; not with `retry`, `deadLetter`,
   * `broadcast`, `consumer.singleActiveConsumer`, or an `onException` / `onSuccess` other than
   * "ack" (`WEIR_ERR_INVALID_OPTION`): a failed bulk is logged and not redelivered. A stored offset
   * that cannot be read fails the start with `WEIR_ERR_STREAM_OFFSET`. See docs/amqp.md, "Streams".
   * @defaultValue off: a route that finds a stream stops with `WEIR_ERR_STREAM_QUEUE`
   */
  stream?: StreamOptions;
}

/**
 * An AMQP route with a `schema`: the handler's body type is the schema's output, and so is the
 * message `once.key` sees.
 */
export type AMQPSchemaRouteSpec<S extends StandardSchemaV1> = Omit<
  AMQPRouteSpec<SchemaOutput<S>>,
  "schema"
> & {
  schema: S;
};

/**
 * A handler of an AMQP route: always receives an array, of at most `min(bulkSize, prefetch)` (on a
 * route over several queues, `prefetch` is the smallest queue's share of it), and a context whose
 * `signal` aborts when the route's `timeout` passes.
 */
export type AMQPHandler<T = unknown> = (messages: AMQPMessage<T>[], context: HandlerContext) => unknown;

/** An AMQP route with every default applied and every option checked. */
export interface AMQPRoute {
  readonly name: string;
  readonly queues: readonly string[];
  readonly vhost: string;
  readonly prefetch: number;
  /** Each queue's per-consumer prefetch, in `queues` order; they add up to `prefetch`. */
  readonly prefetchShares: readonly number[];
  readonly bulkSize: number;
  readonly flushInterval: number;
  readonly concurrency: number;
  /** The longest one handler call may take (ms); undefined: no limit. */
  readonly timeout: number | undefined;
  readonly onSuccess: Action;
  readonly onException: Action;
  readonly declare: Required<QueueDeclareOptions> | undefined;
  readonly handler: AMQPHandler;
  readonly retry: ResolvedRetry | undefined;
  readonly deadLetter: ResolvedDeadLetter | undefined;
  readonly once: ResolvedOnce<AMQPMessage> | undefined;
  readonly schema: StandardSchemaV1 | undefined;
  readonly exchanges: readonly ResolvedExchange[];
  /** `queue.bind`s of named queues; a broadcast route's are in `broadcast`. */
  readonly bindings: readonly ResolvedBinding[];
  /** A broadcast route's bindings of its server-named queue; undefined on other routes. */
  readonly broadcast: readonly ResolvedBinding[] | undefined;
  readonly consumer: ResolvedConsumer;
  /** Replies to requests; undefined when the route does not reply. */
  readonly reply: ResolvedReply | undefined;
  /** A stream route's offset and consumer name; undefined on other routes. */
  readonly stream: ResolvedStream | undefined;
}

/** `consumer` with its defaults applied. */
export interface ResolvedConsumer {
  readonly priority: number | undefined;
  readonly exclusive: boolean;
  readonly singleActiveConsumer: boolean;
}

const SPEC_KEYS = [
  "exchanges",
  "bindings",
  "broadcast",
  "consumer",
  "type",
  "vhost",
  "prefetch",
  "declare",
  "options",
  "retry",
  "deadLetter",
  "once",
  "schema",
  "reply",
  "stream",
] as const;
const OPTION_KEYS = [
  "bulkSize",
  "bulkFlushInterval",
  "concurrency",
  "timeout",
  "onSuccess",
  "onException",
] as const;

function action(option: string, value: unknown, fallback: Action): Action {
  if (value === undefined) return fallback;
  if (!isAction(value)) {
    throw new InvalidOptionError(
      option,
      `unknown action ${String(value)} (known: ${Object.values(Actions).join(", ")})`,
    );
  }
  return value;
}

function declareOptions(
  value: AMQPRouteSpec["declare"],
  stream: boolean,
): Required<QueueDeclareOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  const given = value === true ? {} : value;
  knownKeys("declare", given, ["durable", "exclusive", "autoDelete", "arguments"]);
  if (!stream && declaresStream(given.arguments)) throw new StreamQueueError("declare.arguments");
  const args = given.arguments ?? {};
  return {
    durable: given.durable ?? true,
    exclusive: given.exclusive ?? false,
    autoDelete: given.autoDelete ?? false,
    // A stream route's queue is declared as a stream.
    arguments: stream ? { ...args, "x-queue-type": "stream" } : args,
  };
}

function consumerOptions(value: ConsumerOptions | undefined): ResolvedConsumer {
  knownKeys("consumer", value, ["priority", "exclusive", "singleActiveConsumer"]);
  const given = value ?? {};
  const priority = given.priority;
  if (priority !== undefined && !(typeof priority === "number" && Number.isInteger(priority))) {
    throw new InvalidOptionError("consumer.priority", `must be an integer, got ${String(priority)}`);
  }
  for (const key of ["exclusive", "singleActiveConsumer"] as const) {
    if (given[key] !== undefined && typeof given[key] !== "boolean") {
      throw new InvalidOptionError(`consumer.${key}`, `must be true or false, got ${String(given[key])}`);
    }
  }
  return {
    priority,
    exclusive: given.exclusive ?? false,
    singleActiveConsumer: given.singleActiveConsumer ?? false,
  };
}

/**
 * A broadcast route's queue is the broker's (server-named, exclusive, auto-delete, a new one per
 * connection): options that name the queue or keep messages in other queues by its name cannot apply.
 */
function checkBroadcast(spec: AMQPRouteSpec, record: RouteRecord): void {
  if (record.routes.length !== 1) {
    throw new InvalidOptionError(
      "broadcast",
      "a broadcast route has one name (a label: its queue is named by the broker)",
    );
  }
  for (const key of ["declare", "bindings", "retry", "deadLetter"] as const) {
    if (spec[key] !== undefined && spec[key] !== false) {
      throw new InvalidOptionError(
        key,
        "not with broadcast: the route's queue is server-named, exclusive and auto-delete, and changes with every connection",
      );
    }
  }
  if (spec.consumer?.singleActiveConsumer === true) {
    throw new InvalidOptionError(
      "consumer.singleActiveConsumer",
      "not with broadcast: each instance has a queue of its own",
    );
  }
}

/** Checks an AMQP route once, at registration, and applies its defaults. */
export function normalizeAMQPRoute(
  record: RouteRecord,
  defaults: { prefetch: number; vhost: string; consumerTimeout: number; appName?: string },
  logger: Logger,
): AMQPRoute {
  const spec = record.spec as AMQPRouteSpec;
  knownKeys("route", spec, SPEC_KEYS);
  const options = spec.options ?? {};
  knownKeys("options", options, OPTION_KEYS);
  const prefetch = positiveInteger("prefetch", spec.prefetch, defaults.prefetch);
  const requested = positiveInteger("bulkSize", options.bulkSize, BULK_DEFAULTS.bulkSize);
  const name = record.routes.join(",");
  const shares = prefetchShares(prefetch, record.routes.length);
  if (prefetch < record.routes.length) {
    logger.warn(
      { route: name, prefetch, queues: record.routes.length },
      "prefetch is below the number of queues; each queue gets 1, so the route may hold one unacked message per queue",
    );
  }
  // A bulk larger than one queue's share could never fill from that queue alone: the broker stops
  // delivering first, and the bulk would wait for its flush interval.
  const cap = Math.min(...shares);
  if (requested > cap) {
    logger.warn(
      { route: name, bulkSize: requested, prefetch, queues: record.routes.length, using: cap },
      record.routes.length === 1
        ? "bulkSize is above prefetch; using prefetch"
        : "bulkSize is above each queue's share of the prefetch; using the share",
    );
  }
  const vhost = spec.vhost ?? defaults.vhost;
  if (typeof vhost !== "string" || vhost.length === 0) {
    throw new InvalidOptionError("vhost", "must be a non-empty string");
  }
  // weir's delay and dead-letter queues take the type the route declares its queues with.
  const sourceType = declaredQueueType(
    typeof spec.declare === "object" && spec.declare !== null ? spec.declare.arguments : undefined,
  );
  const retry = normalizeRetry(spec.retry, sourceType);
  if (retry !== undefined && options.onException !== undefined) {
    // Two answers to "what does a thrown error do" would make one of them silently dead.
    throw new InvalidOptionError(
      "options.onException",
      "a route with `retry` retries thrown errors; remove onException (or retry)",
    );
  }
  const stream = normalizeStream(spec, record, defaults.appName ?? "weir");
  const broadcast = normalizeBroadcast(spec.broadcast);
  if (broadcast !== undefined) checkBroadcast(spec, record);
  const consumer = consumerOptions(spec.consumer);
  let declare = declareOptions(spec.declare, stream !== undefined);
  if (consumer.singleActiveConsumer) {
    if (declare === undefined) {
      throw new InvalidOptionError(
        "consumer.singleActiveConsumer",
        "needs declare: x-single-active-consumer is a queue argument, set when weir declares the queue",
      );
    }
    declare = { ...declare, arguments: { ...declare.arguments, "x-single-active-consumer": true } };
  }
  const route: AMQPRoute = {
    name,
    queues: record.routes,
    vhost,
    prefetch,
    prefetchShares: shares,
    bulkSize: Math.min(requested, cap),
    flushInterval: duration("bulkFlushInterval", options.bulkFlushInterval, BULK_DEFAULTS.bulkFlushInterval),
    concurrency: positiveInteger("concurrency", options.concurrency, BULK_DEFAULTS.concurrency),
    timeout: handlerTimeoutOption("timeout", options.timeout),
    onSuccess: action("onSuccess", options.onSuccess, Actions.ACK),
    // A replying route answers a failure with the error: requeueing the request as well would run it
    // again, at once and in a loop, for a caller that already has its answer.
    onException: action(
      "onException",
      options.onException,
      stream
        ? Actions.ACK
        : spec.reply !== undefined && spec.reply !== false
          ? Actions.REJECT
          : Actions.REQUEUE,
    ),
    declare,
    handler: record.handler as AMQPHandler,
    retry,
    deadLetter: normalizeDeadLetter(spec.deadLetter, retry !== undefined, sourceType),
    once: onceOption<AMQPMessage>(spec.once),
    schema: schemaOption("schema", spec.schema),
    exchanges: normalizeExchanges(spec.exchanges),
    bindings: normalizeBindings(spec.bindings, record.routes),
    broadcast,
    consumer: {
      ...consumer,
      singleActiveConsumer: declare?.arguments["x-single-active-consumer"] === true,
    },
    reply: normalizeReply(spec.reply),
    stream,
  };
  warnConsumerTimeout(route, defaults.consumerTimeout, logger);
  warnDeliveryLimit(route, logger);
  return route;
}

/** Warns when a route can hold a delivery longer than the broker's consumer timeout allows. */
function warnConsumerTimeout(route: AMQPRoute, consumerTimeout: number, logger: Logger): void {
  const risk = consumerTimeoutRisk({
    prefetch: route.prefetch,
    bulkSize: route.bulkSize,
    concurrency: route.concurrency,
    flushInterval: route.flushInterval,
    timeout: route.timeout,
    queueArguments: route.declare?.arguments,
    consumerTimeout,
  });
  if (risk === undefined) return;
  logger.warn(
    {
      route: route.name,
      code: "WEIR_ERR_CONSUMER_TIMEOUT",
      holdMs: risk.holdMs,
      consumerTimeoutMs: risk.consumerTimeoutMs,
      from: risk.source,
      timeout: route.timeout ?? null,
      bulkFlushInterval: route.flushInterval,
      prefetch: route.prefetch,
      concurrency: route.concurrency,
      ...(risk.maxPrefetch > 0 && { maxPrefetch: risk.maxPrefetch }),
    },
    route.timeout === undefined
      ? "bulkFlushInterval reaches the broker's consumer timeout: the broker would close the channel before a partial bulk is handed over; lower bulkFlushInterval"
      : "a delivery can wait longer than the broker's consumer timeout (bulkFlushInterval, then prefetch / (bulkSize x concurrency) handler calls of up to timeout each): the broker would close the channel; lower prefetch (maxPrefetch) or timeout, or raise concurrency",
  );
}
