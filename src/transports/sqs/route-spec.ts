import type { Action } from "../../core/constants.js";
import { Actions } from "../../core/constants.js";
import type { OnceOptions } from "../../core/consume/once/store.js";
import { InvalidOptionError } from "../../core/errors.js";
import type { HandlerContext } from "../../core/handler-call.js";
import type { StandardSchemaV1 } from "../../core/schema.js";
import { duration, knownKeys, nonEmptyString, positiveInteger } from "../../core/validate.js";
import { type Backoff, ExponentialBackoff } from "../../utils/backoff.js";
import type { SQSMessage } from "./message.js";
import { checkDeadLetterRoom, checkQueueName, defaultDeadLetterQueue } from "./names.js";
import { isFifo, isQueueUrl } from "./port.js";

/** The handler of an SQS route: a bulk of messages. */
export type SQSHandler<T> = (messages: SQSMessage<T>[], context: HandlerContext) => unknown;

/** `options` of an SQS route. */
export interface SQSRouteOptions {
  /** @defaultValue 1 */
  bulkSize?: number;
  /** ms a partial bulk waits for its oldest message. @defaultValue 60 000 */
  bulkFlushInterval?: number;
  /** Bulks of this route in the handler at once. @defaultValue 1 */
  concurrency?: number;
  /** ms before a handler call fails with `WEIR_ERR_HANDLER_TIMEOUT`. @defaultValue none */
  timeout?: number;
  /** @defaultValue `"ack"` (`DeleteMessageBatch`) */
  onSuccess?: Action;
  /** @defaultValue `"requeue"` (visibility 0: back at once, `ApproximateReceiveCount` + 1) */
  onException?: Action;
}

/** `retry` of an SQS route: a failed message is hidden for the backoff, then received again. */
export interface SQSRetryOptions {
  /**
   * Receives in all (`ApproximateReceiveCount`): the failure that reaches it dead-letters the message.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * The delay before each retry (ms), asked with the failures so far; set as the message's
   * visibility timeout, so rounded up to whole seconds and at most 12 hours (SQS's limit).
   * @defaultValue `new ExponentialBackoff()`
   */
  backoff?: Backoff;
}

/** `deadLetter` of an SQS route: weir's dead-letter queue. */
export interface SQSDeadLetterOptions {
  /**
   * The dead-letter queue (name or URL), created by weir when missing (a name). A name must be one
   * SQS takes (as a route's queue), else `app.route` throws `InvalidOptionError`.
   * @defaultValue `<queue>-dlq` (`<name>-dlq.fifo` for a FIFO queue), so then the queue's name may
   * have at most 76 characters (SQS's 80 with the suffix; longer is refused at `app.route`)
   */
  queue?: string;
}

/** `declare` of an SQS route given as an object: how a missing queue is created. */
export interface SQSDeclareOptions {
  /**
   * SQS queue attributes of a queue weir creates (`CreateQueue`'s `Attributes`: SQS's names,
   * string values, such as `{ MessageRetentionPeriod: "86400", RedrivePolicy: "..." }`). They win
   * over the ones weir derives (`FifoQueue` from a `.fifo` name, `VisibilityTimeout` from the
   * route's `visibilityTimeout`); `FifoQueue` cannot contradict the name. An existing queue is not
   * changed.
   * @defaultValue none besides the derived ones
   */
  attributes?: Record<string, string>;
}

/**
 * An SQS route: `app.route(["orders"], { type: "sqs" }, handler)`; queue names or URLs. A name must
 * be one SQS takes: 1 to 80 characters, only letters, digits, `-` and `_`, plus `.fifo` ending a
 * FIFO queue's name (counted in the 80; AWS SQS CreateQueue, "QueueName"), and at most 76 with
 * weir's own dead-letter queue (`<queue>-dlq`). `app.route` throws `InvalidOptionError`
 * (`WEIR_ERR_INVALID_OPTION`, option `queue`) naming the queue otherwise; a URL is taken as it is.
 */
export interface SQSRouteSpec<T = unknown> {
  type: "sqs";
  /**
   * Messages the route holds unsettled (received, in a bulk or the handler). Receives of up to 10
   * run side by side until it is filled.
   * @defaultValue the app's `sqs.prefetch`, else `max(bulkSize, 10)`
   */
  prefetch?: number;
  /**
   * The visibility timeout of what the route receives (ms, whole seconds): a message whose handler
   * still runs when half of it has passed gets it again ("still working"), so it is not received
   * twice while handled.
   * @defaultValue the queue's `VisibilityTimeout`
   */
  visibilityTimeout?: number;
  /**
   * Long polling: how long a receive waits for messages (ms, whole seconds, at most 20 000).
   * @defaultValue 20 000
   */
  waitTime?: number;
  schema?: StandardSchemaV1;
  once?: OnceOptions<T, SQSMessage<T>>;
  retry?: SQSRetryOptions;
  /**
   * weir's dead-letter queue for exhausted retries, `m.deadLetter()`, undecodable bodies and schema
   * refusals (with `x-weir-error` and `x-weir-original-queue` attributes). `false`: none (a dead
   * letter is deleted and logged; a queue's own redrive policy still moves what is received too often).
   * @defaultValue on when `retry` is set, else off
   */
  deadLetter?: boolean | SQSDeadLetterOptions;
  /**
   * Creates the route's queues that do not exist at `start()` (`CreateQueue`, before consuming), as
   * `declare` does on AMQP: a `.fifo` name as a FIFO queue, with the route's `visibilityTimeout`
   * (whole seconds) as its `VisibilityTimeout`, then `attributes`. A queue that exists is used as
   * it is, never changed (other attributes are no error). Needs queue names: a queue given as a URL
   * is refused at `app.route` (`InvalidOptionError`), as is a value that is not a boolean or
   * `{ attributes }` of string values. Without it, a missing queue fails `start()` with
   * `WEIR_ERR_SQS_QUEUE_NOT_FOUND`.
   * @defaultValue false
   */
  declare?: boolean | SQSDeclareOptions;
  options?: SQSRouteOptions;
}

/** A route with its defaults applied. */
export interface SQSRoute {
  readonly name: string;
  readonly queues: readonly string[];
  readonly bulkSize: number;
  readonly flushInterval: number;
  readonly concurrency: number;
  readonly timeout: number | undefined;
  readonly prefetch: number;
  /** s; undefined: the queue's. */
  readonly visibilitySeconds: number | undefined;
  readonly waitSeconds: number;
  readonly onSuccess: Action;
  readonly onException: Action;
  readonly retry: { readonly maxAttempts: number; readonly backoff: Backoff } | undefined;
  /** The DLQ of each queue; undefined: no weir DLQ. */
  readonly deadLetter: ((queue: string) => string) | undefined;
  /**
   * `declare`: the attributes a missing queue is created with, besides `FifoQueue` for a `.fifo`
   * name (the route's visibility timeout, then the given ones); undefined: queues must exist.
   */
  readonly declare: Readonly<Record<string, string>> | undefined;
}

const ROUTE_KEYS = [
  "type",
  "prefetch",
  "visibilityTimeout",
  "waitTime",
  "schema",
  "once",
  "retry",
  "deadLetter",
  "declare",
  "options",
];
const OPTION_KEYS = ["bulkSize", "bulkFlushInterval", "concurrency", "timeout", "onSuccess", "onException"];
const ACTIONS: readonly string[] = Object.values(Actions);

function action(option: string, value: unknown, fallback: Action): Action {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !ACTIONS.includes(value)) {
    throw new InvalidOptionError(option, `must be one of ${ACTIONS.join(", ")}, got ${String(value)}`);
  }
  return value as Action;
}

/** The checked `declare` of a route: the attributes it gives (`{}` for `true`), undefined when off. */
function declareOption(
  value: unknown,
  queues: readonly string[],
  visibilitySeconds: number | undefined,
): Record<string, string> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== "object" || value === null || Array.isArray(value))) {
    throw new InvalidOptionError("declare", `must be a boolean or { attributes }, got ${String(value)}`);
  }
  const given = value === true ? {} : (value as SQSDeclareOptions);
  knownKeys("declare", given, ["attributes"]);
  const attributes = given.attributes ?? {};
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
    throw new InvalidOptionError(
      "declare.attributes",
      `must be an object of SQS attribute names to string values, got ${String(attributes)}`,
    );
  }
  for (const [name, attribute] of Object.entries(attributes)) {
    if (typeof attribute !== "string") {
      throw new InvalidOptionError(
        `declare.attributes.${name}`,
        `must be a string (SQS attribute values are strings), got ${typeof attribute}`,
      );
    }
  }
  for (const queue of queues) {
    if (isQueueUrl(queue)) {
      throw new InvalidOptionError(
        "declare",
        `needs queue names, and ${queue} is a URL: name the queue (its URL follows from the endpoint and account), or drop declare`,
      );
    }
    const fifo = attributes.FifoQueue;
    if (fifo !== undefined && (fifo.toLowerCase() === "true") !== isFifo(queue)) {
      throw new InvalidOptionError(
        "declare.attributes.FifoQueue",
        `a queue is FIFO when its name ends in .fifo (weir sets FifoQueue from it), and ${queue} ${isFifo(queue) ? "does" : "does not"}`,
      );
    }
  }
  return {
    ...(visibilitySeconds === undefined ? {} : { VisibilityTimeout: String(visibilitySeconds) }),
    ...attributes,
  };
}

/** Checks an SQS route at registration and applies its defaults. */
export function normalizeSQSRoute(
  routes: readonly string[],
  spec: SQSRouteSpec,
  appPrefetch?: number,
): SQSRoute {
  knownKeys("route", spec, ROUTE_KEYS);
  const options = spec.options ?? {};
  knownKeys("options", options, OPTION_KEYS);
  knownKeys("retry", spec.retry, ["maxAttempts", "backoff"]);
  for (const queue of routes) checkQueueName("queue", nonEmptyString("queue", queue));
  const bulkSize = positiveInteger("bulkSize", options.bulkSize, 1);
  const prefetch = positiveInteger("prefetch", spec.prefetch, appPrefetch ?? Math.max(bulkSize, 10));
  const visibility =
    spec.visibilityTimeout === undefined
      ? undefined
      : duration("visibilityTimeout", spec.visibilityTimeout, 0, 1000);
  if (visibility !== undefined && visibility > 43_200_000) {
    throw new InvalidOptionError("visibilityTimeout", "must be at most 12 hours (43 200 000 ms)");
  }
  const wait = duration("waitTime", spec.waitTime, 20_000, 0);
  if (wait > 20_000) throw new InvalidOptionError("waitTime", "must be at most 20 000 ms (SQS's limit)");
  let retry: SQSRoute["retry"];
  if (spec.retry !== undefined) {
    const backoff = spec.retry.backoff ?? new ExponentialBackoff();
    if (typeof (backoff as { get?: unknown }).get !== "function") {
      throw new InvalidOptionError("retry.backoff", "must have a get(attempt) method returning ms");
    }
    retry = { maxAttempts: positiveInteger("retry.maxAttempts", spec.retry.maxAttempts, 5), backoff };
    if (options.onException !== undefined) {
      throw new InvalidOptionError(
        "options.onException",
        "a route with `retry` retries thrown errors; remove onException (or retry)",
      );
    }
  }
  const dl = spec.deadLetter ?? retry !== undefined;
  if (typeof dl === "object") knownKeys("deadLetter", dl, ["queue"]);
  else if (typeof dl !== "boolean")
    throw new InvalidOptionError("deadLetter", "must be a boolean or { queue }");
  const named =
    typeof dl === "object" && dl.queue !== undefined
      ? nonEmptyString("deadLetter.queue", dl.queue)
      : undefined;
  if (named !== undefined) checkQueueName("deadLetter.queue", named);
  else if (dl !== false) for (const queue of routes) checkDeadLetterRoom("queue", queue);
  const visibilitySeconds = visibility === undefined ? undefined : Math.ceil(visibility / 1000);
  return {
    name: routes.join(","),
    queues: routes,
    bulkSize: Math.min(bulkSize, prefetch),
    flushInterval: duration("bulkFlushInterval", options.bulkFlushInterval, 60_000),
    concurrency: positiveInteger("concurrency", options.concurrency, 1),
    timeout: options.timeout,
    prefetch,
    visibilitySeconds,
    waitSeconds: Math.ceil(wait / 1000),
    onSuccess: action("options.onSuccess", options.onSuccess, Actions.ACK),
    onException: action("options.onException", options.onException, Actions.REQUEUE),
    retry,
    deadLetter: dl === false ? undefined : (queue) => named ?? defaultDeadLetterQueue(queue),
    declare: declareOption(spec.declare, routes, visibilitySeconds),
  };
}
