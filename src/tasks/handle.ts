import { InvalidOptionError } from "../core/errors.js";
import { knownKeys } from "../core/validate.js";
import {
  TaskFailedError,
  TaskResultsDisabledError,
  TaskResultTimeoutError,
  TaskRevokedError,
  TaskUnknownError,
} from "./errors.js";
import { isFinal, type TaskRecord, type TaskStatus } from "./record.js";
import type { TaskStore } from "./store.js";

/** Options of `job.result(options)`. */
export interface ResultOptions {
  /**
   * How long to wait for a final status (ms); then `WEIR_ERR_TASK_RESULT_TIMEOUT` (the task may
   * still run: `result()` again later, or `revoke()`).
   * @defaultValue none: wait until the task succeeds, fails or is revoked
   */
  timeout?: number;
  /** Stops waiting when aborted, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * One run of a task, returned by `task.delay()` and rebuilt anywhere by `task.get(id)` (Alsek's
 * `Message` with `wait_for`, Celery's `AsyncResult`, BullMQ's `Job`). Its status and result live in
 * the task store (Redis) for `results.ttl` ms after their last change; on a task defined with
 * `results: false`, `status()`, `result()` and `revoke()` throw `WEIR_ERR_TASK_NO_RESULTS`.
 */
export interface TaskHandle<R = unknown> {
  /** The run's id: the message id of its message (`delay`'s `messageId`, else a random UUID). */
  readonly id: string;
  /** The task's name. */
  readonly task: string;
  /**
   * The run's record: status, attempt, timestamps, result or last failure, and its chain
   * (`previous`, `next`). Rejects with `WEIR_ERR_TASK_UNKNOWN` when there is none (never submitted
   * with results on, or expired), `WEIR_ERR_TASK_STORE` when Redis cannot be reached.
   */
  status(): Promise<TaskRecord>;
  /**
   * Waits for the run to end, without polling (the store announces every change), and resolves
   * with the handler's return value (as JSON gives it back: `undefined` becomes `null`). Rejects
   * with `WEIR_ERR_TASK_FAILED` (`error.failure` holds the recorded error) once it failed for good,
   * `WEIR_ERR_TASK_REVOKED`, `WEIR_ERR_TASK_RESULT_TIMEOUT` after `timeout` ms,
   * `WEIR_ERR_TASK_UNKNOWN`, or `WEIR_ERR_TASK_STORE`.
   */
  result(options?: ResultOptions): Promise<R>;
  /**
   * Revokes the run: if no worker has started it, every worker skips it (acks its message, status
   * `revoked`); if one is running it, its handler's `context.signal` aborts and the run ends as
   * `revoked`. A run already final is left as it is. Resolves with the status the run had before
   * (`undefined`: no record; the revocation is kept for the task's `results.ttl` anyway).
   */
  revoke(): Promise<TaskStatus | undefined>;
}

/** A handle on a task store (or on none, for `results: false`). */
export class StoredTaskHandle<R> implements TaskHandle<R> {
  constructor(
    readonly task: string,
    readonly id: string,
    private readonly store: (() => TaskStore) | undefined,
    private readonly ttlMs: number,
  ) {}

  async status(): Promise<TaskRecord> {
    const record = await this.storeOrThrow().get(this.id);
    if (record === undefined) throw new TaskUnknownError(this.task, this.id);
    return record;
  }

  async result(options: ResultOptions = {}): Promise<R> {
    knownKeys("result options", options, ["timeout", "signal"]);
    const { timeout, signal } = options;
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout >= 0))) {
      throw new InvalidOptionError("timeout", `must be a number of ms ≥ 0, got ${String(timeout)}`);
    }
    const store = this.storeOrThrow();
    signal?.throwIfAborted();
    let wake: () => void = () => {};
    const unwatch = await store.watch(this.id, () => wake());
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const ended = new Promise<never>((_, reject) => {
        if (timeout !== undefined) {
          timer = setTimeout(() => reject(new TaskResultTimeoutError(this.task, this.id, timeout)), timeout);
        }
        if (signal !== undefined) {
          onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
        }
      });
      // Each pass follows one announced change; the wait ends at a final status, the timeout or
      // the signal.
      for (;;) {
        const changed = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const record = await store.get(this.id);
        if (record === undefined) throw new TaskUnknownError(this.task, this.id);
        if (isFinal(record.status)) return this.settle(record);
        await Promise.race([changed, ended]);
      }
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      await unwatch();
    }
  }

  revoke(): Promise<TaskStatus | undefined> {
    return this.storeOrThrow().revoke(this.id, this.ttlMs);
  }

  private settle(record: TaskRecord): R {
    if (record.status === "succeeded") return record.result as R;
    if (record.status === "revoked") throw new TaskRevokedError(this.task, this.id);
    throw new TaskFailedError(
      this.task,
      this.id,
      record.error ?? { name: "Error", message: "no error recorded" },
    );
  }

  private storeOrThrow(): TaskStore {
    if (this.store === undefined) throw new TaskResultsDisabledError(this.task);
    return this.store();
  }
}
