import type { Instrumentation } from "../core/instrumentation.js";
import type { Logger } from "../core/logger.js";
import { TaskRevokedError, TaskTransportError } from "./errors.js";
import { Lock, type LockOptions } from "./lock.js";
import type { TaskRef } from "./record.js";
import { RedisConnection } from "./redis-connection.js";
import { RedisTaskStore } from "./redis-store.js";
import { type ScheduleEntry, Scheduler } from "./schedule.js";
import type { TaskStore, Unwatch } from "./store.js";

/** How the App reaches its task layer (weir/testing swaps the store). `Symbol.for`: one per realm. */
export const appTaskLayer: unique symbol = Symbol.for("weir.appTaskLayer");

/** What the layer needs of a task to enqueue a callback run of it. */
export interface CallbackTarget {
  enqueue(payload: unknown, id: string, previous: TaskRef): Promise<void>;
  abandon(id: string, error: string): Promise<void>;
}

/**
 * The task layer of one App: its tasks by name (for callbacks), the task store (Redis, opened on
 * first use; memory under weir/testing), the runs this worker is running (to abort a revoked one)
 * and its subscription to revocations.
 */
export class TaskLayer {
  private storeInUse: TaskStore | undefined;
  private readonly targets = new Map<string, CallbackTarget>();
  private readonly controllers = new Map<string, { controller: AbortController; task: string }>();
  private listening: Promise<Unwatch> | undefined;
  /** Locks' and schedules' connection, opened on first use (it waits for Redis when Redis is away). */
  private coordination: RedisConnection | undefined;
  private schedules: Scheduler | undefined;
  private started = false;

  constructor(
    private readonly redisUrl: string,
    private readonly appName: string,
    readonly logger: Logger,
    readonly instrumentation: Instrumentation,
  ) {}

  /** The store, created on first use. */
  store(): TaskStore {
    this.storeInUse ??= new RedisTaskStore(this.redisUrl, this.appName);
    return this.storeInUse;
  }

  /** weir/testing: keep status and results in `store` instead of Redis. */
  useStore(store: TaskStore): void {
    this.storeInUse = store;
  }

  /** Registers a task as a callback target, by name. */
  add(name: string, target: CallbackTarget): void {
    this.targets.set(name, target);
  }

  /** Enqueues the callback run `next` with `payload` (the previous run's result). */
  async enqueueCallback(next: TaskRef, payload: unknown, previous: TaskRef): Promise<void> {
    const target = this.targets.get(next.task);
    if (target === undefined) {
      throw new TaskTransportError(
        next.task,
        `is not defined in this app, so the callback of ${previous.task} (${previous.id}) cannot be sent`,
      );
    }
    await target.enqueue(payload, next.id, previous);
  }

  /** Marks the callback run `next` failed: the run it waited for (`previous`) will not succeed. */
  async abandonCallback(next: TaskRef, previous: TaskRef, why: string): Promise<void> {
    const failure = {
      name: "TaskCallbackAbandoned",
      message: `its previous run ${previous.task} (${previous.id}) ${why}`,
    };
    await this.targets.get(next.task)?.abandon(next.id, JSON.stringify(failure));
  }

  /** Subscribes to revocations once; later calls wait for the same subscription. */
  async listenForRevocations(): Promise<void> {
    if (this.listening === undefined) {
      const subscribing = this.store().onRevoke((id) => {
        const run = this.controllers.get(id);
        run?.controller.abort(new TaskRevokedError(run.task, id));
      });
      this.listening = subscribing;
      subscribing.catch(() => {
        if (this.listening === subscribing) this.listening = undefined;
      });
    }
    await this.listening;
  }

  /** The controller a revocation of `id` aborts, while this worker runs it. */
  running(id: string, task: string): AbortController {
    const controller = new AbortController();
    this.controllers.set(id, { controller, task });
    return controller;
  }

  finished(id: string, controller: AbortController | undefined): void {
    if (this.controllers.get(id)?.controller === controller) this.controllers.delete(id);
  }

  /** `app.lock(name, options)`: a mutex on the app's Redis. */
  lock(name: string, options: LockOptions): Lock {
    return new Lock(this.redis(), name, options);
  }

  /** The app's scheduler, created on the first schedule; it ticks while the app runs. */
  scheduler(): Scheduler {
    if (this.schedules === undefined) {
      this.schedules = new Scheduler({ redis: this.redis(), logger: this.logger });
      if (this.started) this.schedules.start();
    }
    return this.schedules;
  }

  /** The schedules, for `weir routes`. */
  scheduleEntries(): readonly ScheduleEntry[] {
    return this.schedules?.entries() ?? [];
  }

  /** The app runs: schedules tick. */
  start(): void {
    this.started = true;
    this.schedules?.start();
  }

  /** The app stops: schedules stop ticking (fires in progress are awaited). */
  async stop(): Promise<void> {
    this.started = false;
    await this.schedules?.stop();
  }

  /** Closes the store's connections: after the transports and the shutdown hooks. */
  async close(): Promise<void> {
    const store = this.storeInUse;
    this.listening = undefined;
    await store?.close();
    await this.coordination?.close();
  }

  private redis(): () => Promise<import("ioredis").Redis> {
    this.coordination ??= new RedisConnection({ url: this.redisUrl }, this.logger);
    return this.coordination.client;
  }
}
