import { BULK_DEFAULTS, type BulkOptions } from "../../core/bulk-pipeline.js";
import { type Action, Actions, isAction, type RouteTypes } from "../../core/constants.js";
import { InvalidOptionError } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import type { RouteRecord } from "../../core/transport.js";
import { duration, knownKeys, positiveInteger } from "../../core/validate.js";
import type { AMQPMessage } from "./message.js";

/** Per-route behaviour of an AMQP route (`options` in the route definition). */
export interface AMQPRouteOptions extends BulkOptions {
  /**
   * What happens to each message the handler did not settle itself, when the handler returns.
   * @defaultValue "ack"
   */
  onSuccess?: Action;
  /**
   * What happens to each message the handler did not settle itself, when the handler throws.
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

/** An AMQP route: its handler consumes every queue in the route's list. */
export interface AMQPRouteSpec {
  type: typeof RouteTypes.AMQP;
  /**
   * The vhost of the route's queues.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Unacked messages this route may hold across all its queues.
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
}

/** A handler of an AMQP route: always receives an array, of at most `min(bulkSize, prefetch)`. */
export type AMQPHandler<T = unknown> = (messages: AMQPMessage<T>[]) => unknown;

/** An AMQP route with every default applied and every option checked. */
export interface AMQPRoute {
  readonly name: string;
  readonly queues: readonly string[];
  readonly vhost: string;
  readonly prefetch: number;
  readonly bulkSize: number;
  readonly flushInterval: number;
  readonly concurrency: number;
  readonly onSuccess: Action;
  readonly onException: Action;
  readonly declare: Required<QueueDeclareOptions> | undefined;
  readonly handler: AMQPHandler;
}

const SPEC_KEYS = ["type", "vhost", "prefetch", "declare", "options"] as const;
const OPTION_KEYS = ["bulkSize", "bulkFlushInterval", "concurrency", "onSuccess", "onException"] as const;

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

function declareOptions(value: AMQPRouteSpec["declare"]): Required<QueueDeclareOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  const given = value === true ? {} : value;
  knownKeys("declare", given, ["durable", "exclusive", "autoDelete", "arguments"]);
  return {
    durable: given.durable ?? true,
    exclusive: given.exclusive ?? false,
    autoDelete: given.autoDelete ?? false,
    arguments: given.arguments ?? {},
  };
}

/** Checks an AMQP route once, at registration, and applies its defaults. */
export function normalizeAMQPRoute(
  record: RouteRecord,
  defaults: { prefetch: number; vhost: string },
  logger: Logger,
): AMQPRoute {
  const spec = record.spec as AMQPRouteSpec;
  knownKeys("route", spec, SPEC_KEYS);
  const options = spec.options ?? {};
  knownKeys("options", options, OPTION_KEYS);
  const prefetch = positiveInteger("prefetch", spec.prefetch, defaults.prefetch);
  const requested = positiveInteger("bulkSize", options.bulkSize, BULK_DEFAULTS.bulkSize);
  const name = record.routes.join(",");
  if (requested > prefetch) {
    // A bulk larger than the prefetch could never fill: the broker stops delivering first.
    logger.warn({ route: name, bulkSize: requested, prefetch }, "bulkSize is above prefetch; using prefetch");
  }
  const vhost = spec.vhost ?? defaults.vhost;
  if (typeof vhost !== "string" || vhost.length === 0) {
    throw new InvalidOptionError("vhost", "must be a non-empty string");
  }
  return {
    name,
    queues: record.routes,
    vhost,
    prefetch,
    bulkSize: Math.min(requested, prefetch),
    flushInterval: duration("bulkFlushInterval", options.bulkFlushInterval, BULK_DEFAULTS.bulkFlushInterval),
    concurrency: positiveInteger("concurrency", options.concurrency, BULK_DEFAULTS.concurrency),
    onSuccess: action("onSuccess", options.onSuccess, Actions.ACK),
    onException: action("onException", options.onException, Actions.REQUEUE),
    declare: declareOptions(spec.declare),
    handler: record.handler as AMQPHandler,
  };
}
