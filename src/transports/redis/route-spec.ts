import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { BULK_DEFAULTS, type BulkOptions } from "../../core/bulk-pipeline.js";
import { type Action, Actions, isAction, type RouteTypes } from "../../core/constants.js";
import { onceOption, type ResolvedOnce } from "../../core/consume/once/options.js";
import type { OnceOptions } from "../../core/consume/once/store.js";
import { InvalidOptionError } from "../../core/errors.js";
import { type HandlerContext, handlerTimeoutOption } from "../../core/handler-call.js";
import { type StandardSchemaV1, schemaOption } from "../../core/schema.js";
import type { RouteRecord } from "../../core/transport.js";
import { duration, knownKeys, nonEmptyString, positiveInteger } from "../../core/validate.js";
import { type Backoff, ExponentialBackoff } from "../../utils/backoff.js";
import type { RedisMessage } from "./message.js";

/** Per-route behaviour of a Redis route (`options` in the route definition). */
export interface RedisRouteOptions extends BulkOptions {
  /**
   * What happens to each message the handler did not settle itself, when the handler returns.
   * @defaultValue "ack"
   */
  onSuccess?: Action;
  /**
   * What happens to each message the handler did not settle itself, when the handler throws (a
   * route with `retry` retries instead).
   * @defaultValue "requeue"
   */
  onException?: Action;
}

/** `retry` in a Redis route: failed messages wait in `<stream>.retry` (a sorted set), then come back. */
export interface RedisRetryOptions {
  /**
   * How many times the handler may receive a message in all: the first delivery plus its retries.
   * The failure that reaches this number sends the message to the dead-letter stream.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * The delay before each retry (ms), asked with the number of failures so far (1 after the first).
   * @defaultValue `new ExponentialBackoff()`
   */
  backoff?: Backoff;
}

/** A route on Redis Streams: the route's streams read through one consumer group. */
export interface RedisRouteSpec<T = unknown> {
  type: typeof RouteTypes.REDIS;
  /**
   * Accepted for one route spec on every broker (AMQP, SQS and NATS routes create what they read
   * with it): a Redis route always declares, the group is created at start with `MKSTREAM` and a
   * stream comes into being with its first write. Throws `WEIR_ERR_INVALID_OPTION` at `app.route`
   * for `false` (there is nothing to leave undeclared) and for a value that is not a boolean.
   * @defaultValue true (the only value)
   */
  declare?: boolean;
  /**
   * The consumer group (created at start when missing, with `MKSTREAM`). Every worker of the group
   * shares the streams' entries; another group gets every entry too.
   * @defaultValue the app's `name`
   */
  group?: string;
  /**
   * This worker's consumer name in the group. Keep it unique per process: two live workers with one
   * name would take each other's pending entries.
   * @defaultValue `<hostname>-<pid>-<random>`
   */
  consumer?: string;
  /**
   * Where a group weir creates starts: `"first"`, the stream's oldest entry (entries written before
   * the first worker started are handled), or `"new"`, only entries added from then on (`$`).
   * A group that exists keeps its position.
   * @defaultValue "first"
   */
  from?: "first" | "new";
  /**
   * Entries this route may hold unsettled (read, not acked yet); `bulkSize` is capped at it.
   * @defaultValue the app's `redis.prefetch`, else 128
   */
  prefetch?: number;
  /**
   * ms an entry may stay pending without a sign of life from its consumer before another consumer
   * of the group takes it over (`XAUTOCLAIM`): how long the entries of a worker that died wait.
   * A live worker renews the entries it holds every `claimIdle / 3`, so a slow handler or a long
   * `bulkFlushInterval` is not taken for a dead worker.
   * @defaultValue 30000
   */
  claimIdle?: number;
  /** A Standard Schema (zod, valibot, ...): a body it refuses is dead-lettered, never handled. */
  schema?: StandardSchemaV1;
  /** Process each message once, across redeliveries and duplicates (docs/once.md). */
  once?: OnceOptions<T, RedisMessage<T>>;
  /** Retry failed messages after a backoff, then dead-letter them. See docs/redis.md. */
  retry?: RedisRetryOptions;
  /**
   * Dead letters go to the stream `<stream>.dlq` (refused bodies, exhausted retries, `m.deadLetter()`,
   * rejected messages). On by default with `retry`; `false` turns it off (they are then dropped).
   * @defaultValue true with `retry`, else false
   */
  deadLetter?: boolean;
  options?: RedisRouteOptions;
}

export type RedisHandler<T = unknown> = (messages: RedisMessage<T>[], context: HandlerContext) => unknown;

/** A Redis route, checked, defaults applied. */
export interface RedisRoute {
  readonly name: string;
  readonly streams: readonly string[];
  readonly group: string;
  readonly consumer: string;
  readonly from: "first" | "new";
  readonly prefetch: number;
  readonly claimIdle: number;
  readonly bulkSize: number;
  readonly flushInterval: number;
  readonly concurrency: number;
  readonly timeout: number | undefined;
  readonly onSuccess: Action;
  readonly onException: Action;
  readonly schema: StandardSchemaV1 | undefined;
  readonly once: ResolvedOnce<RedisMessage> | undefined;
  readonly retry: { readonly maxAttempts: number; readonly backoff: Backoff } | undefined;
  readonly deadLetter: boolean;
  readonly handler: RedisHandler;
}

export const DEFAULT_PREFETCH = 128;
export const DEFAULT_CLAIM_IDLE = 30_000;
export const RETRY_SUFFIX = ".retry";
export const DLQ_SUFFIX = ".dlq";

const SPEC_KEYS = [
  "type",
  "declare",
  "group",
  "consumer",
  "from",
  "prefetch",
  "claimIdle",
  "schema",
  "once",
  "retry",
  "deadLetter",
  "options",
];
const OPTION_KEYS = ["bulkSize", "bulkFlushInterval", "concurrency", "timeout", "onSuccess", "onException"];

/** A consumer name unique per process (and per route of it). */
export function defaultConsumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

function action(option: string, value: unknown, fallback: Action): Action {
  if (value === undefined) return fallback;
  if (!isAction(value)) {
    throw new InvalidOptionError(
      option,
      `must be "ack", "reject" or "requeue", got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function retryOption(value: unknown): RedisRoute["retry"] {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(
      "retry",
      `must be an object like { maxAttempts, backoff }, got ${String(value)}`,
    );
  }
  const given = value as RedisRetryOptions;
  knownKeys("retry", given, ["maxAttempts", "backoff"]);
  const backoff = given.backoff ?? new ExponentialBackoff();
  if (typeof backoff !== "object" || backoff === null || typeof backoff.get !== "function") {
    throw new InvalidOptionError("retry.backoff", "must have a get(attempt) method returning milliseconds");
  }
  return { maxAttempts: positiveInteger("retry.maxAttempts", given.maxAttempts, 5), backoff };
}

/** `declare` is what a Redis route always does: `true` (or nothing) only. */
function declareOption(value: unknown): void {
  if (value === undefined || value === true) return;
  if (value === false) {
    throw new InvalidOptionError(
      "declare",
      "a Redis route cannot leave its stream undeclared: Redis creates a stream on its first write and weir creates the consumer group at start (XGROUP CREATE ... MKSTREAM); remove declare: false",
    );
  }
  throw new InvalidOptionError("declare", `must be true, got ${JSON.stringify(value)}`);
}

/** Checks a route and applies its defaults; throws `WEIR_ERR_INVALID_OPTION` for misuse. */
export function normalizeRedisRoute(
  record: RouteRecord,
  appName: string,
  appPrefetch: number = DEFAULT_PREFETCH,
): RedisRoute {
  const spec = record.spec as RedisRouteSpec;
  knownKeys("route", spec, SPEC_KEYS);
  const options = spec.options ?? {};
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("options", `must be an object, got ${String(options)}`);
  }
  knownKeys("options", options, OPTION_KEYS);
  if (record.routes.length === 0) throw new InvalidOptionError("routes", "a redis route needs a stream");
  for (const stream of record.routes) nonEmptyString("routes", stream);
  if (spec.from !== undefined && spec.from !== "first" && spec.from !== "new") {
    throw new InvalidOptionError("from", `must be "first" or "new", got ${JSON.stringify(spec.from)}`);
  }
  declareOption(spec.declare);
  if (spec.deadLetter !== undefined && typeof spec.deadLetter !== "boolean") {
    throw new InvalidOptionError("deadLetter", `must be a boolean, got ${String(spec.deadLetter)}`);
  }
  const prefetch = positiveInteger("prefetch", spec.prefetch, appPrefetch);
  const retry = retryOption(spec.retry);
  if (retry !== undefined && options.onException !== undefined) {
    // As on every transport: two answers to "what does a thrown error do" would leave one silently dead.
    throw new InvalidOptionError(
      "options.onException",
      "a route with `retry` retries thrown errors; remove onException (or retry)",
    );
  }
  return {
    name: record.routes.join(","),
    streams: [...record.routes],
    group: nonEmptyString("group", spec.group, appName),
    consumer: nonEmptyString("consumer", spec.consumer, defaultConsumerName()),
    from: spec.from ?? "first",
    prefetch,
    claimIdle: duration("claimIdle", spec.claimIdle, DEFAULT_CLAIM_IDLE, 100),
    // A bulk above the prefetch could never fill.
    bulkSize: Math.min(positiveInteger("bulkSize", options.bulkSize, BULK_DEFAULTS.bulkSize), prefetch),
    flushInterval: duration("bulkFlushInterval", options.bulkFlushInterval, BULK_DEFAULTS.bulkFlushInterval),
    concurrency: positiveInteger("concurrency", options.concurrency, BULK_DEFAULTS.concurrency),
    timeout: handlerTimeoutOption("timeout", options.timeout),
    onSuccess: action("options.onSuccess", options.onSuccess, Actions.ACK),
    onException: action("options.onException", options.onException, Actions.REQUEUE),
    schema: schemaOption("schema", spec.schema),
    once: onceOption<RedisMessage>(spec.once),
    retry,
    deadLetter: spec.deadLetter ?? retry !== undefined,
    handler: record.handler as RedisHandler,
  };
}
