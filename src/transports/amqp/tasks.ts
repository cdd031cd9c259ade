import { InvalidOptionError } from "../../core/errors.js";
import { commonTaskRouteFields, taskRouteHandler } from "../../core/task-route.js";
import type {
  TaskCarrier,
  TaskDelivery,
  TaskRun,
  TaskSender,
  TaskSendOptions,
} from "../../core/transport.js";
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
 * Tasks on RabbitMQ (alfred's `SQSTask`, Alsek's `Task`): the task's queue `name`, declared by weir,
 * consumed one message at a time; runs sent with publisher confirms, delayed ones through the delay
 * queues that retries use. The task layer (src/tasks) adds ids, status, results and callbacks.
 */

/** The options of `app.task(name, handler, options)` on RabbitMQ (the default transport). */
export interface AMQPTaskOptions<T = unknown> {
  /**
   * The vhost of the task's queue.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Unacked task messages this worker may hold. Keep it low (1) where priorities must overtake a
   * backlog: a message already fetched is not overtaken.
   * @defaultValue the app's `amqp.prefetch` (128)
   */
  prefetch?: number;
  /**
   * How many runs this worker runs at once.
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
   * @defaultValue a durable queue without arguments (with `x-max-priority` when `maxPriority` is set)
   */
  declare?: QueueDeclareOptions;
  /**
   * Runs may carry a `priority` from 0 to this (RabbitMQ priority queues: the queue is declared with
   * `x-max-priority`; RabbitMQ advises at most 10, allows 255). An existing queue declared without
   * it fails the start with `WEIR_ERR_QUEUE_DECLARE` (PRECONDITION_FAILED): delete it first.
   * See https://www.rabbitmq.com/docs/priority.
   * @defaultValue none: `delay(..., { priority })` throws `WEIR_ERR_TASK_PRIORITY`
   */
  maxPriority?: number;
  /**
   * Retries on the broker after a backoff, then the dead-letter queue (the route's `retry`).
   * @defaultValue no retries: a failed run is `failed` at once (its message rejected, or
   * dead-lettered with `deadLetter`), never requeued
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

/** The AMQP transport's `TaskCarrier`. */
export class AMQPTaskCarrier implements TaskCarrier {
  readonly optionKeys = ["vhost", "declare", "maxPriority"];

  constructor(
    private readonly transport: AMQPTransport,
    private readonly route: (routes: readonly string[], spec: AMQPRouteSpec, handler: AMQPHandler) => void,
  ) {}

  define(name: string, options: Readonly<Record<string, unknown>>, run: TaskRun): TaskSender {
    const given = options as AMQPTaskOptions;
    const maxPriority = maxPriorityOf(given.maxPriority);
    const declare = declareOf(given.declare, maxPriority);
    const routeHandler: AMQPHandler = taskRouteHandler(run, taskDelivery);
    const spec = {
      ...commonTaskRouteFields(options),
      type: "amqp",
      declare,
      ...(given.vhost !== undefined && { vhost: given.vhost }),
    } as AMQPRouteSpec;
    this.route([name], spec, routeHandler);
    markTaskHandler(routeHandler, name);
    // Delayed runs wait in the delay queues the task's retries use: quorum ones for a quorum task queue.
    const delayType =
      given.retry?.queueType ?? declaredQueueType(declare === true ? undefined : declare.arguments);
    const maxAttempts = given.retry === undefined ? 1 : (given.retry.maxAttempts ?? 5);
    return new AMQPTaskSender(name, given.vhost, this.transport, delayType, maxPriority, maxAttempts);
  }
}

function taskDelivery(message: AMQPMessage): TaskDelivery {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.headers)) {
    if (typeof value === "string") headers[key] = value;
    else if (Buffer.isBuffer(value)) headers[key] = value.toString("utf8");
  }
  return { message, id: message.messageId, headers };
}

function maxPriorityOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 255) {
    throw new InvalidOptionError("maxPriority", `must be an integer from 1 to 255, got ${String(value)}`);
  }
  return value;
}

function declareOf(
  declare: QueueDeclareOptions | undefined,
  maxPriority: number | undefined,
): true | QueueDeclareOptions {
  if (maxPriority === undefined) return declare ?? true;
  const given = declare ?? {};
  return { ...given, arguments: { ...given.arguments, "x-max-priority": maxPriority } };
}

class AMQPTaskSender implements TaskSender {
  /** Delay queue → when this process last declared it (ms epoch), to renew its `x-expires` lease. */
  private readonly declared = new Map<string, number>();

  constructor(
    private readonly name: string,
    private readonly vhost: string | undefined,
    private readonly transport: AMQPTransport,
    private readonly delayType: QueueType,
    readonly maxPriority: number | undefined,
    readonly maxAttempts: number | undefined,
  ) {}

  async send(payload: unknown, options: TaskSendOptions): Promise<void> {
    const wait = delayOf(options.delay);
    const send = (routingKey: string): Promise<void> =>
      this.transport.publish(payload, {
        routingKey,
        vhost: this.vhost,
        headers: options.headers as Record<string, unknown>,
        messageId: options.id,
        correlationId: options.correlationId,
        priority: options.priority,
        timeout: options.timeout,
      });
    // Mandatory, as every publish: a task queue that does not exist rejects with
    // WEIR_ERR_PUBLISH_UNROUTABLE instead of the broker dropping the run.
    if (wait === 0) {
      try {
        return await send(this.name);
      } catch (error) {
        if ((error as { code?: unknown }).code !== "WEIR_ERR_PUBLISH_UNROUTABLE") throw error;
        // The broker's words name a routing key; a task's user needs to know which step was missed.
        throw this.noQueue(this.vhost ?? this.transport[amqpInternals]().defaultVhost, "312 NO_ROUTE", error);
      }
    }
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

  /** WEIR_ERR_PUBLISH_UNROUTABLE for a task queue that does not exist, saying how it comes to exist. */
  private noQueue(vhost: string, reply: string, cause: unknown, consequence?: string): PublishRejectedError {
    const [replyCode, replyText] = reply.split(" ") as [string, string];
    return new PublishRejectedError(
      "WEIR_ERR_PUBLISH_UNROUTABLE",
      `task "${this.name}": its queue does not exist in vhost "${vhost}" (${reply})` +
        `${consequence === undefined ? "" : `, ${consequence}`}; nothing was sent. A worker declares ` +
        "it when its app starts (app.start(), weir run): start one before delaying runs",
      Number(replyCode),
      replyText,
      "",
      this.name,
      { cause },
    );
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
        throw this.noQueue(
          vhost,
          "404 NOT_FOUND",
          error,
          "so the delayed run would be dropped when its delay ends",
        );
      }
      await channel.assertQueue(queue, delayQueueOptions(this.name, wait, this.delayType));
    });
    this.declared.set(queue, sentAt);
  }
}

function delayOf(value: number): number {
  if (value > MAX_DELAY_MS) {
    throw new InvalidOptionError("delay", `must be a number of milliseconds from 0 to ${MAX_DELAY_MS}`);
  }
  return value === 0 ? 0 : quantizeDelay(value);
}
