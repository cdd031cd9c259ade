import { randomUUID } from "node:crypto";
import { ConfigurationError, InvalidHandlerError, InvalidOptionError } from "../core/errors.js";
import type { HandlerContext } from "../core/handler-call.js";
import { type SchemaResult, type StandardSchemaV1, validateWith } from "../core/schema.js";
import type { TaskCarrier, TaskSender } from "../core/transport.js";
import { knownKeys, nonEmptyString } from "../core/validate.js";
import { TaskPayloadError, TaskPriorityError } from "./errors.js";
import { StoredTaskHandle, type TaskHandle } from "./handle.js";
import type { TaskLayer } from "./layer.js";
import { type ResolvedResults, resultsOption } from "./options.js";
import type { TaskRef } from "./record.js";
import { PREVIOUS_HEADER, type RunHandler, THEN_HEADER, taskRun } from "./runner.js";
import type { ScheduleEntry, ScheduleOptions } from "./schedule.js";

/**
 * A task's handler: one payload at a time. `message` is the transport's message (an `AMQPMessage`,
 * an `SQSMessage`); `context.signal` aborts when the run passes its `timeout` or is revoked. What it
 * returns (JSON) is the run's result.
 */
export type TaskHandler<T, M, R = unknown> = (
  payload: T,
  message: M,
  context: HandlerContext,
) => R | Promise<R>;

/** Options of `task.delay(payload, options)`. */
export interface DelayOptions<R = unknown> {
  /**
   * How long the run waits before a worker may take it (ms), on the broker (AMQP: a delay queue,
   * rounded to two significant digits, at most 7 days; SQS: `DelaySeconds`, at most 900 000).
   * @defaultValue 0 (at once)
   */
  delay?: number;
  /**
   * Message headers (SQS: string values only).
   * @defaultValue none
   */
  headers?: Record<string, unknown>;
  /**
   * The run's id, sent as the message id (what `once` dedups on by default). A run whose record
   * says `succeeded` is skipped if its id is sent again.
   * @defaultValue a new random UUID per call
   */
  messageId?: string;
  /**
   * The AMQP `correlation-id`.
   * @defaultValue none
   */
  correlationId?: string;
  /**
   * The run's priority, 0 (lowest) to the task's `maxPriority` (AMQP tasks declared with it; the
   * broker delivers higher ones first). Elsewhere `WEIR_ERR_TASK_PRIORITY`.
   * @defaultValue none (0)
   */
  priority?: number;
  /**
   * How long to wait for a connection and the broker's confirm (ms), where the transport has such
   * a bound (AMQP).
   * @defaultValue the transport's publish timeout
   */
  timeout?: number;
  /**
   * A task to enqueue with this run's result as its payload once this run succeeds (Alsek's
   * callback). The callback's id is fixed now: `(await job.status()).next` names it, and its own
   * record's `previous` names this run. It must be defined in the worker's app too.
   * @defaultValue none
   */
  then?: Task<R, unknown>;
}

/** The producer side of a task, returned by `app.task`. `T` is what `delay` accepts, `R` its result. */
export interface Task<T, R = unknown> {
  /** The task's name, which is also its queue. */
  readonly name: string;
  /** The transport that carries it (`"amqp"`, `"sqs"`). */
  readonly transport: string;
  /** AMQP: the vhost of its queue (`undefined`: the app's default vhost, or not AMQP). */
  readonly vhost: string | undefined;
  /**
   * Enqueues one run and resolves with its handle once the broker has it (AMQP: confirmed and routed
   * to the task's queue, or with a `delay` to its delay queue). With a schema, the payload is checked
   * first: an invalid one rejects with `WEIR_ERR_TASK_PAYLOAD` and nothing is sent. With results
   * on, the run is recorded `submitted` first (`WEIR_ERR_TASK_STORE` if Redis is out of reach;
   * nothing is sent then). A `priority` the task cannot honour is `WEIR_ERR_TASK_PRIORITY`; the other
   * failures are the transport's publish errors (a task queue no worker declared:
   * `WEIR_ERR_PUBLISH_UNROUTABLE` on AMQP).
   */
  delay(...args: DelayArguments<T, R>): Promise<TaskHandle<R>>;
  /** The handle of run `id`, in any process (no I/O until it is used). */
  get(id: string): TaskHandle<R>;
  /**
   * Fires the task on a cron expression (parsed by croner: 5 fields, or 6 with seconds first) while
   * the app runs (`start()`, `weir run`): each tick sends one run of `payload` (none: `null`), with the id
   * `schedule:<name>:<tick ms>`. With N processes running the app, each tick fires once (a claim in
   * Redis decides); a tick missed while none ran is not replayed unless `catchUp`. `weir routes`
   * lists schedules with their next tick. Throws `WEIR_ERR_SCHEDULE_CRON` for an expression or
   * timezone croner refuses, `WEIR_ERR_DUPLICATE_SCHEDULE` for a name used twice.
   */
  schedule(cron: string, payload?: T, options?: TaskScheduleOptions): ScheduleEntry;
}

/**
 * `delay`'s arguments: the payload may be left out when the task's payload type admits `undefined`
 * (a task typed without one: `task.delay()`); it is then sent as `null`.
 */
export type DelayArguments<T, R> = undefined extends T
  ? [payload?: T, options?: DelayOptions<R>]
  : [payload: T, options?: DelayOptions<R>];

/** Options of `task.schedule(cron, payload, options)`. */
export interface TaskScheduleOptions extends ScheduleOptions {
  /**
   * The schedule's name (its Redis keys, its row in `weir routes`, the run ids): give one to a
   * second schedule of the same task (`WEIR_ERR_DUPLICATE_SCHEDULE` otherwise).
   * @defaultValue the task's name
   */
  name?: string;
}

const COMMON_KEYS = [
  "transport",
  "results",
  "prefetch",
  "concurrency",
  "timeout",
  "retry",
  "deadLetter",
  "once",
  "schema",
];
const DELAY_KEYS = ["delay", "headers", "messageId", "correlationId", "priority", "timeout", "then"];

/** Defines a task on `carrier`: registers its consumer and returns its producer. */
export function defineTask<T, R>(
  layer: TaskLayer,
  carrier: { readonly type: string; readonly tasks: TaskCarrier },
  name: unknown,
  handler: unknown,
  options: Readonly<Record<string, unknown>> | undefined,
  names: Set<string>,
): Task<T, R> {
  const queue = nonEmptyString("task name", name);
  if (typeof handler !== "function") throw new InvalidHandlerError("a task handler");
  knownKeys("task options", options, [...COMMON_KEYS, ...carrier.tasks.optionKeys]);
  const given = options ?? {};
  const results = resultsOption(given.results);
  const key = `${carrier.type}\u0000${String(given.vhost ?? "")}\u0000${queue}`;
  if (names.has(key)) {
    throw new ConfigurationError("WEIR_ERR_DUPLICATE_TASK", `a task named "${queue}" is already registered`);
  }
  const { transport: _transport, results: _results, ...carried } = given;
  let sender: TaskSender | undefined;
  const run = taskRun(layer, queue, handler as RunHandler, results, () => sender as TaskSender);
  sender = carrier.tasks.define(queue, carried, run);
  names.add(key);
  const producer = new TaskProducer<T, R>(
    queue,
    carrier.type,
    typeof given.vhost === "string" ? given.vhost : undefined,
    given.schema as StandardSchemaV1 | undefined,
    sender,
    layer,
    results,
  );
  layer.add(queue, producer);
  return producer;
}

class TaskProducer<T, R> implements Task<T, R> {
  constructor(
    readonly name: string,
    readonly transport: string,
    readonly vhost: string | undefined,
    private readonly schema: StandardSchemaV1 | undefined,
    private readonly sender: TaskSender,
    private readonly layer: TaskLayer,
    private readonly results: ResolvedResults | undefined,
  ) {}

  get(id: string): TaskHandle<R> {
    return new StoredTaskHandle<R>(
      this.name,
      nonEmptyString("task id", id),
      this.results === undefined ? undefined : () => this.layer.store(),
      this.results?.ttl ?? 0,
    );
  }

  schedule(cron: string, payload?: T, options: TaskScheduleOptions = {}): ScheduleEntry {
    knownKeys("schedule options", options, ["name", "timezone", "catchUp"]);
    const { name = this.name, ...scheduleOptions } = options;
    return this.layer.scheduler().add(
      name,
      cron,
      async (tick) => {
        await this.delay(payload as T, { messageId: `schedule:${name}:${tick.getTime()}` });
      },
      scheduleOptions,
    );
  }

  async delay(...args: DelayArguments<T, R>): Promise<TaskHandle<R>> {
    const [payload, options = {}] = args as [T, DelayOptions<R>?];
    knownKeys("delay options", options, DELAY_KEYS);
    const delay = options.delay ?? 0;
    if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
      throw new InvalidOptionError("delay", `must be a number of ms ≥ 0, got ${String(delay)}`);
    }
    this.checkPriority(options.priority);
    let next: TaskRef | undefined;
    if (options.then !== undefined) {
      const then = options.then as Partial<Task<unknown>> | null;
      if (
        typeof then !== "object" ||
        then === null ||
        typeof then.name !== "string" ||
        typeof then.get !== "function"
      ) {
        throw new InvalidOptionError("then", "must be a task (what app.task returns)");
      }
      if (!(then instanceof TaskProducer)) {
        throw new InvalidOptionError("then", "must be a task of this app (what app.task returns)");
      }
      next = { task: then.name, id: randomUUID() };
    }
    if (this.schema !== undefined) {
      const checked = validateWith(this.schema, payload);
      const result: SchemaResult<unknown> = checked instanceof Promise ? await checked : checked;
      if (!result.ok) throw new TaskPayloadError(this.name, result.issues);
    }
    const id = options.messageId ?? randomUUID();
    const headers: Record<string, unknown> = { ...options.headers };
    if (next !== undefined) {
      headers[THEN_HEADER] = JSON.stringify(next);
      // The callback's record exists from now on, so `result()` on it waits instead of not knowing it.
      await (options.then as TaskProducer<unknown, unknown>).reserve(next.id, { task: this.name, id });
    }
    try {
      await this.send(payload, id, headers, options, next, undefined);
    } catch (error) {
      // Nothing was sent: the callback it reserved will never come either.
      if (next !== undefined)
        await this.layer
          .store()
          .forget(next.id)
          .catch(() => {});
      throw error;
    }
    return this.get(id);
  }

  /** Records a callback run as `submitted` before the run it waits for is sent. */
  async reserve(id: string, previous: TaskRef): Promise<void> {
    if (this.results === undefined) return;
    await this.layer.store().submit({ id, task: this.name, previous }, this.results.ttl);
  }

  /** A callback run that will never be sent: the run it waited for failed for good or was revoked. */
  async abandon(id: string, error: string): Promise<void> {
    if (this.results === undefined) return;
    await this.layer.store().finish(id, this.name, { status: "failed", error }, this.results.ttl);
    this.layer.instrumentation.taskStatus(this.name, "failed");
  }

  /** A callback run: the previous run's result as payload, its id fixed by the previous `delay`. */
  async enqueue(payload: unknown, id: string, previous: TaskRef): Promise<void> {
    if (this.schema !== undefined) {
      const checked = validateWith(this.schema, payload);
      const result: SchemaResult<unknown> = checked instanceof Promise ? await checked : checked;
      if (!result.ok) throw new TaskPayloadError(this.name, result.issues);
    }
    await this.send(payload, id, { [PREVIOUS_HEADER]: JSON.stringify(previous) }, {}, undefined, previous);
  }

  private async send(
    payload: unknown,
    id: string,
    headers: Record<string, unknown>,
    options: DelayOptions<R>,
    next: TaskRef | undefined,
    previous: TaskRef | undefined,
  ): Promise<void> {
    const store = this.results === undefined ? undefined : this.layer.store();
    await store?.submit({ id, task: this.name, next, previous }, this.results?.ttl ?? 0);
    try {
      // JSON has no undefined (a payload-less run, a schedule without payload): it goes as null.
      await this.sender.send(payload === undefined ? null : payload, {
        id,
        delay: options.delay ?? 0,
        headers,
        priority: options.priority,
        correlationId: options.correlationId,
        timeout: options.timeout,
      });
    } catch (error) {
      await store?.forget(id).catch(() => {});
      throw error;
    }
    this.layer.instrumentation.taskStatus(this.name, "submitted");
  }

  private checkPriority(priority: unknown): void {
    if (priority === undefined) return;
    const max = this.sender.maxPriority;
    if (max === undefined) {
      throw new TaskPriorityError(
        this.name,
        this.transport === "amqp"
          ? "has no priorities: define it with maxPriority (its queue gets x-max-priority) to delay runs with a priority"
          : `has no priorities: ${this.transport} delivers in order of arrival`,
      );
    }
    if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 0 || priority > max) {
      throw new TaskPriorityError(
        this.name,
        `priority must be an integer from 0 to ${max}, got ${String(priority)}`,
      );
    }
  }
}
