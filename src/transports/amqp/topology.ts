import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys, nonEmptyString } from "../../core/validate.js";

/**
 * The topology a route declares besides its queues (issue #17): the exchanges it needs and the
 * bindings of its queues, and a broadcast route's binding. Checked once at registration; declared
 * on the route's own channel at every attach (start and after every reconnect), before consuming.
 */

/** The exchange types of AMQP 0-9-1 that RabbitMQ has built in. */
export const EXCHANGE_TYPES = ["direct", "topic", "fanout", "headers"] as const;
export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

/** An exchange a route needs (`exchanges`), declared with `exchange.declare`. */
export interface ExchangeDeclaration {
  /** The exchange's name; not "" (the default exchange) and not `amq.*` (reserved by the broker). */
  name: string;
  /** How it routes: direct (key equals), topic (`*` one word, `#` any words), fanout (all), headers. */
  type: ExchangeType;
  /** Survives a broker restart. @defaultValue true */
  durable?: boolean;
  /** Deleted by the broker once its last binding is removed. @defaultValue false */
  autoDelete?: boolean;
  /** Takes no publishes from clients, only from other exchanges. @defaultValue false */
  internal?: boolean;
  /** Where messages it cannot route go (`alternate-exchange`, RabbitMQ docs "Alternate Exchanges"). */
  alternateExchange?: string;
  /** Further exchange arguments. @defaultValue {} */
  arguments?: Record<string, unknown>;
}

/** A binding of a route's queue to an exchange (`bindings`). */
export interface QueueBinding {
  /** The exchange to bind to (declared by a route's `exchanges`, or existing). */
  exchange: string;
  /**
   * The binding key, or several (one binding each). Topic patterns use `*` and `#`; a headers
   * exchange ignores it.
   * @defaultValue "" (one binding)
   */
  routingKey?: string | readonly string[];
  /** A headers exchange's match: the header values a message must carry. */
  headers?: Record<string, unknown>;
  /** `x-match`: every header of `headers` must match ("all"), or one ("any"). @defaultValue "all" */
  match?: "all" | "any";
  /** The route's queue to bind. @defaultValue every queue of the route */
  queue?: string;
}

/**
 * A broadcast route: each running app instance gets its own server-named, exclusive, auto-delete
 * queue bound to `exchange`, so every instance sees every message (cache invalidation, config
 * reload). After a reconnect a new queue is declared and bound; what was published meanwhile is not
 * delivered to this instance (its old queue went with the connection).
 */
export interface BroadcastOptions {
  /** The exchange to bind to: a fanout one usually (declare it in the route's `exchanges`). */
  exchange: string;
  /** The binding key(s), as in a binding. @defaultValue "" */
  routingKey?: string | readonly string[];
  /** A headers exchange's match. */
  headers?: Record<string, unknown>;
  /** `x-match` for `headers`. @defaultValue "all" */
  match?: "all" | "any";
}

/** An exchange with its defaults applied: `exchange.declare`'s arguments. */
export interface ResolvedExchange {
  readonly name: string;
  readonly type: ExchangeType;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  /** The exchange arguments sent (`alternate-exchange` included). */
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** One `queue.bind`: `queue` undefined is the broadcast route's server-named queue. */
export interface ResolvedBinding {
  readonly queue: string | undefined;
  readonly exchange: string;
  readonly routingKey: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function flag(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new InvalidOptionError(option, `must be true or false, got ${String(value)}`);
  return value;
}

function argumentsOf(option: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new InvalidOptionError(option, "must be an object of AMQP arguments");
  return { ...value };
}

function exchangeName(option: string, value: unknown): string {
  const name = nonEmptyString(option, value);
  if (name.startsWith("amq.")) {
    // RabbitMQ refuses to declare amq.* names (403), and the built-in ones exist already.
    throw new InvalidOptionError(
      option,
      `"${name}" is reserved by the broker (amq.*); bind to it without declaring it`,
    );
  }
  return name;
}

/** Checks `exchanges` and applies the defaults. */
export function normalizeExchanges(value: unknown): ResolvedExchange[] {
  if (value === undefined) return [];
  if (!Array.isArray(value))
    throw new InvalidOptionError("exchanges", "must be an array of exchange declarations");
  const seen = new Set<string>();
  return value.map((given: unknown, index) => {
    const where = `exchanges[${index}]`;
    if (!isRecord(given)) throw new InvalidOptionError(where, "must be an object");
    knownKeys(where, given, [
      "name",
      "type",
      "durable",
      "autoDelete",
      "internal",
      "alternateExchange",
      "arguments",
    ]);
    const name = exchangeName(`${where}.name`, given.name);
    if (seen.has(name)) throw new InvalidOptionError(where, `exchange "${name}" is declared twice`);
    seen.add(name);
    const type = given.type;
    if (typeof type !== "string" || !(EXCHANGE_TYPES as readonly string[]).includes(type)) {
      // An unknown type is a connection-level error on RabbitMQ (503): every route of the vhost would fall.
      throw new InvalidOptionError(
        `${where}.type`,
        `must be one of ${EXCHANGE_TYPES.join(", ")}, got ${String(type)}`,
      );
    }
    const args = argumentsOf(`${where}.arguments`, given.arguments);
    if (given.alternateExchange !== undefined) {
      args["alternate-exchange"] = nonEmptyString(`${where}.alternateExchange`, given.alternateExchange);
    }
    return {
      name,
      type: type as ExchangeType,
      durable: flag(`${where}.durable`, given.durable, true),
      autoDelete: flag(`${where}.autoDelete`, given.autoDelete, false),
      internal: flag(`${where}.internal`, given.internal, false),
      arguments: args,
    };
  });
}

function routingKeys(option: string, value: unknown): string[] {
  if (value === undefined) return [""];
  const keys = typeof value === "string" ? [value] : value;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((key) => typeof key !== "string")) {
    throw new InvalidOptionError(option, "must be a string or a non-empty array of strings");
  }
  return [...new Set(keys as string[])];
}

/** One binding spec (a `bindings` entry or `broadcast`) → its `queue.bind`s. */
function bindingsOf(where: string, given: unknown, queues: readonly string[] | undefined): ResolvedBinding[] {
  if (!isRecord(given)) throw new InvalidOptionError(where, "must be an object");
  const keys = ["exchange", "routingKey", "headers", "match"];
  knownKeys(where, given, queues === undefined ? keys : [...keys, "queue"]);
  const exchange = nonEmptyString(`${where}.exchange`, given.exchange);
  const args: Record<string, unknown> = {};
  if (given.headers !== undefined) {
    if (!isRecord(given.headers) || Object.keys(given.headers).length === 0) {
      throw new InvalidOptionError(`${where}.headers`, "must be a non-empty object of header values");
    }
    for (const key of Object.keys(given.headers)) {
      // x-* keys are the broker's (x-match); a header match on one would be ignored.
      if (key.startsWith("x-"))
        throw new InvalidOptionError(
          `${where}.headers.${key}`,
          "header names starting with x- are not matched by the broker",
        );
    }
    Object.assign(args, given.headers);
    const match = given.match ?? "all";
    if (match !== "all" && match !== "any")
      throw new InvalidOptionError(`${where}.match`, `must be "all" or "any", got ${String(match)}`);
    args["x-match"] = match;
  } else if (given.match !== undefined) {
    throw new InvalidOptionError(`${where}.match`, "only with headers");
  }
  let targets: (string | undefined)[] = queues === undefined ? [undefined] : [...queues];
  if (queues !== undefined && given.queue !== undefined) {
    const queue = nonEmptyString(`${where}.queue`, given.queue);
    if (!queues.includes(queue)) {
      throw new InvalidOptionError(
        `${where}.queue`,
        `"${queue}" is not a queue of this route (${queues.join(", ")})`,
      );
    }
    targets = [queue];
  }
  const patterns = routingKeys(`${where}.routingKey`, given.routingKey);
  return targets.flatMap((queue) =>
    patterns.map((routingKey) => ({ queue, exchange, routingKey, arguments: args })),
  );
}

/** Checks `bindings` against the route's queues. */
export function normalizeBindings(value: unknown, queues: readonly string[]): ResolvedBinding[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidOptionError("bindings", "must be an array of bindings");
  return value.flatMap((given: unknown, index) => bindingsOf(`bindings[${index}]`, given, queues));
}

/** Checks `broadcast`: the bindings of the server-named queue. */
export function normalizeBroadcast(value: unknown): ResolvedBinding[] | undefined {
  if (value === undefined) return undefined;
  return bindingsOf("broadcast", value, undefined);
}
