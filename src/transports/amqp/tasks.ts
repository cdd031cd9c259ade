import { randomUUID } from "node:crypto";
import { RouteTypes } from "../../core/constants.js";
import { ConfigurationError, InvalidHandlerError, InvalidOptionError, WeirError } from "../../core/errors.js";
import type { HandlerContext } from "../../core/handler-call.js";
import {
  formatIssues,
  type SchemaIssue,
  type SchemaResult,
  type StandardSchemaV1,
  validateWith,
} from "../../core/schema.js";
import { knownKeys, nonEmptyString } from "../../core/validate.js";
import type { AMQPMessage } from "./message.js";
import type { AMQPChannel } from "./port.js";
import { PublishRejectedError } from "./publish-errors.js";
import { declaredQueueType, type QueueType } from "./queue-type.js";
import {
  delayQueueName,
  delayQueueOptions,
  MAX_DELAY_MS,
  quantizeDelay,
  renewAfter,
} from "./retry/topology.js";
import type { AMQPHandler, AMQPRouteSpec, QueueDeclareOptions } from "./route-spec.js";
import { markTaskHandler } from "./task-names.js";
import { type AMQPTransport, amqpInternals } from "./transport.js";

/**
 * Tasks (alfred's `SQSTask`, Alsek's `Task`): one call site defines the consumer of a queue and
 * gives producers a typed way to enqueue work on it.
 *
 * ```ts
 * const sendEmail = app.task("emails.send", async (email) => mailer.send(email), { schema: Email });
 * await sendEmail.delay({ to: "ada@example.com" });                 // from any process
 * await sendEmail.delay({ to: "ada@example.com" }, { delay: 60_000 }); // in a minute
 * ```
 */

/**
 * A task's handler: one payload at a time (the route runs with `bulkSize` 1). `context.signal`
 * aborts when the task's `timeout` passes.
 */
export type TaskHandler<T> = (payload: T, message: AMQPMessage<T>, context: HandlerContext) => unknown;

/** Options of `app.task(name, handler, options)`. */
export interface TaskOptions<T = unknown> {
  /**
   * The vhost of the task's queue.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Unacked task messages this worker may hold.
   * @defaultValue the app's `amqp.prefetch` (128)
   */
  prefetch?: number;
  /**
   * How many tasks this worker runs at once.
   * @defaultValue 1
   */
  concurrency?: number;
  /**
   * The longest one run may take (ms): then its signal aborts and the run counts as failed
   * (retried, or requeued), freeing its slot. Keep it below the broker's consumer timeout.
   * @defaultValue none
   */
  timeout?: number;
  /**
   * How weir declares the task's queue (it always does, at start and after every reconnect).
   * @defaultValue a durable queue without arguments
   */
  declare?: QueueDeclareOptions;
  /**
   * Retries on the broker after a backoff, then the dead-letter queue (the route's `retry`).
   * @defaultValue no retries: a failed task is requeued
   */
  retry?: AMQPRouteSpec<T>["retry"];
  /**
   * The task's dead-letter queue (the route's `deadLetter`).
   * @defaultValue on when `retry` is set, else off
   */
  deadLetter?: AMQPRouteSpec<T>["deadLetter"];
  /**
   * Once-only processing within `ttl` ms (the route's `once`).
   * @defaultValue off
   */
  once?: AMQPRouteSpec<T>["once"];
}

/** Options of `task.delay(payload, options)`. */
export interface DelayOptions {
  /**
   * How long the task waits before a worker may take it (ms). It waits on the broker, in the delay
   * queue `<queue>.retry.<ms>` that retries use too (declared by weir, TTL = the delay, dead-lettering
   * into the task queue; `<queue>.retry.<ms>.quorum` when the task's queue or `retry.queueType` is
   * quorum), so no worker memory holds it. Rounded to two significant digits (at most
   * 5% off; one delay queue per value); at most 7 days.
   * @defaultValue 0 (at once)
   */
  delay?: number;
  /**
   * Message headers.
   * @defaultValue none
   */
  headers?: Record<string, unknown>;
  /**
   * The AMQP `message-id` (what `once` dedups on by default).
   * @defaultValue a new random UUID per call (kept if the call publishes twice: a delay queue that
   * expired is declared again and the run published once more)
   */
  messageId?: string;
  /**
   * The AMQP `correlation-id`.
   * @defaultValue none
   */
  correlationId?: string;
  /**
   * Message priority (queues declared with `x-max-priority`).
   * @defaultValue none
   */
  priority?: number;
  /**
   * How long to wait for a connection and the broker's confirm (ms).
   * @defaultValue the app's `amqp.publishTimeout` (10000)
   */
  timeout?: number;
}

/** The producer side of a task, returned by `app.task`. `T` is what `delay` accepts. */
export interface Task<T> {
  /** The task's name, which is also its queue. */
  readonly name: string;
  /** The vhost of its queue (`undefined`: the app's default vhost). */
  readonly vhost: string | undefined;
  /**
   * Enqueues one run of the task and resolves once the broker has confirmed it and routed it to the
   * task's queue (or, with a `delay`, to its delay queue while the task queue exists). With a schema,
   * the payload is checked first: an invalid one rejects with `WEIR_ERR_TASK_PAYLOAD` and is not
   * sent. A task queue that does not exist (no worker ever declared it) rejects with
   * `WEIR_ERR_PUBLISH_UNROUTABLE`; the other failures are `app.amqp.publish`'s.
   */
  delay(payload: T, options?: DelayOptions): Promise<void>;
}

/** `task.delay` was given a payload the task's schema refuses; nothing was published. */
export class TaskPayloadError extends WeirError {
  readonly issues: readonly SchemaIssue[];

  constructor(task: string, issues: readonly SchemaIssue[]) {
    super("WEIR_ERR_TASK_PAYLOAD", `task "${task}": the payload fails its schema: ${formatIssues(issues)}`);
    this.issues = issues;
  }
}

/** What `app.task` registers through: the App's own `route`, so a task is an ordinary AMQP route. */
export interface TaskHost {
  route(routes: readonly string[], spec: AMQPRouteSpec, handler: AMQPHandler): void;
  readonly transport: AMQPTransport;
}

const OPTION_KEYS = [
  "vhost",
  "prefetch",
  "concurrency",
  "timeout",
  "declare",
  "retry",
  "deadLetter",
  "once",
  "schema",
];

/** Task names per host, to refuse a second task on one queue. */
const namesByHost = new WeakMap<object, Set<string>>();

export function createTask<T>(
  host: TaskHost,
  name: unknown,
  handler: unknown,
  options: (TaskOptions<T> & { schema?: StandardSchemaV1 }) | undefined,
): Task<T> {
  const queue = nonEmptyString("task name", name);
  if (typeof handler !== "function") throw new InvalidHandlerError("a task handler");
  knownKeys("task options", options, OPTION_KEYS);
  const given = options ?? {};
  let names = namesByHost.get(host.transport);
  if (names === undefined) {
    names = new Set();
    namesByHost.set(host.transport, names);
  }
  const key = `${given.vhost ?? ""}\u0000${queue}`;
  if (names.has(key)) {
    throw new ConfigurationError("WEIR_ERR_DUPLICATE_TASK", `a task named "${queue}" is already registered`);
  }
  const run = handler as TaskHandler<unknown>;
  // One message per call: a task is a unit of work, and its retry or dead letter is per message.
  const routeHandler: AMQPHandler = async (messages, context) => {
    for (const message of messages) await run(message.body, message, context);
  };
  const spec: AMQPRouteSpec = {
    type: RouteTypes.AMQP,
    declare: given.declare ?? true,
    options: {
      bulkSize: 1,
      ...(given.concurrency !== undefined && { concurrency: given.concurrency }),
      ...(given.timeout !== undefined && { timeout: given.timeout }),
    },
    ...(given.vhost !== undefined && { vhost: given.vhost }),
    ...(given.prefetch !== undefined && { prefetch: given.prefetch }),
    ...(given.retry !== undefined && { retry: given.retry }),
    ...(given.deadLetter !== undefined && { deadLetter: given.deadLetter }),
    ...(given.once !== undefined && { once: given.once as AMQPRouteSpec["once"] }),
    ...(given.schema !== undefined && { schema: given.schema }),
  };
  host.route([queue], spec, routeHandler);
  names.add(key);
  markTaskHandler(routeHandler, queue);
  // Delayed runs wait in the delay queues the task's retries use: quorum ones for a quorum task queue.
  const delayType = given.retry?.queueType ?? declaredQueueType(given.declare?.arguments);
  return new TaskProducer<T>(queue, given.vhost, given.schema, host.transport, delayType);
}

class TaskProducer<T> implements Task<T> {
  /** Delay queue → when this process last declared it (ms epoch), to renew its `x-expires` lease. */
  private readonly declared = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly vhost: string | undefined,
    private readonly schema: StandardSchemaV1 | undefined,
    private readonly transport: AMQPTransport,
    private readonly delayType: QueueType = "classic",
  ) {}

  async delay(payload: T, options: DelayOptions = {}): Promise<void> {
    knownKeys("delay options", options, [
      "delay",
      "headers",
      "messageId",
      "correlationId",
      "priority",
      "timeout",
    ]);
    const wait = delayOf(options.delay);
    if (this.schema !== undefined) {
      const checked = validateWith(this.schema, payload);
      const result: SchemaResult<unknown> = checked instanceof Promise ? await checked : checked;
      if (!result.ok) throw new TaskPayloadError(this.name, result.issues);
    }
    // One id for the call, even when it publishes twice (below): `once` sees one run.
    const messageId = options.messageId ?? randomUUID();
    const send = (routingKey: string): Promise<void> =>
      this.transport.publish(payload, {
        routingKey,
        vhost: this.vhost,
        headers: options.headers,
        messageId,
        correlationId: options.correlationId,
        priority: options.priority,
        timeout: options.timeout,
      });
    // Mandatory, as every publish: a task queue that does not exist rejects with
    // WEIR_ERR_PUBLISH_UNROUTABLE instead of the broker dropping the run.
    if (wait === 0) return send(this.name);
    const queue = delayQueueName(this.name, wait, this.delayType);
    await this.declareDelayQueue(queue, wait);
    try {
      await send(queue);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "WEIR_ERR_PUBLISH_UNROUTABLE") throw error;
      // The delay queue expired (unused for twice its delay) or was deleted: declare it, once more.
      this.declared.delete(queue);
      await this.declareDelayQueue(queue, wait);
      await send(queue);
    }
  }

  /**
   * The delay queue is the one retries use for this delay, so both share it. It deletes itself when
   * unused (`x-expires`), and a publish does not count as a use, so it is declared again whenever
   * this process's last declare is older than the delay plus a margin (the retries' rule).
   */
  private async declareDelayQueue(queue: string, wait: number): Promise<void> {
    const at = this.declared.get(queue);
    if (at !== undefined && Date.now() - at < renewAfter(wait)) return;
    const sentAt = Date.now();
    const internals = this.transport[amqpInternals]();
    const vhost = this.vhost ?? internals.defaultVhost;
    await internals.withChannel(vhost, async (channel: AMQPChannel) => {
      // When the delay ends the broker dead-letters the message into the task queue, and drops a
      // dead letter it cannot route without a word: a delayed run is taken only while that queue
      // exists (checked whenever the delay queue is declared).
      try {
        await channel.checkQueue(this.name);
      } catch (error) {
        if ((error as { code?: unknown }).code !== 404) throw error;
        throw new PublishRejectedError(
          "WEIR_ERR_PUBLISH_UNROUTABLE",
          `task "${this.name}": its queue does not exist in vhost "${vhost}" (404 NOT_FOUND), so the ` +
            "delayed run would be dropped when its delay ends; nothing was sent",
          404,
          "NOT_FOUND",
          "",
          this.name,
          { cause: error },
        );
      }
      await channel.assertQueue(queue, delayQueueOptions(this.name, wait, this.delayType));
    });
    this.declared.set(queue, sentAt);
  }
}

function delayOf(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_DELAY_MS) {
    throw new InvalidOptionError("delay", `must be a number of milliseconds from 0 to ${MAX_DELAY_MS}`);
  }
  return quantizeDelay(value);
}
