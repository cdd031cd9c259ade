/**
 * What weir records of one run of a task (its status), as `job.status()` returns it and the task
 * store keeps it (a Redis hash `weir:task:<id>`, for `results.ttl` ms after its last change).
 */

/**
 * Where a task is:
 * - `submitted`: enqueued (by `delay`), not yet taken by a worker;
 * - `running`: a worker's handler has it (also after that worker died, until the broker
 *   redelivers the message to another worker: then `running` again with the next attempt);
 * - `retrying`: an attempt failed and the task waits for its next one (the route's `retry`);
 * - `succeeded` / `failed` / `revoked`: final.
 */
export type TaskStatus = "submitted" | "running" | "retrying" | "succeeded" | "failed" | "revoked";

export const TASK_STATUSES: readonly TaskStatus[] = [
  "submitted",
  "running",
  "retrying",
  "succeeded",
  "failed",
  "revoked",
];

/** The statuses a task never leaves. */
export function isFinal(status: TaskStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "revoked";
}

/** A failure as the worker recorded it. */
export interface TaskFailure {
  /** The error's class name, e.g. `HandlerTimeoutError`. */
  readonly name: string;
  readonly message: string;
  /** The error's `code`, when it has one (`WEIR_ERR_HANDLER_TIMEOUT`). */
  readonly code?: string;
}

/** One task run named by its task and id: the link between a task and its callback. */
export interface TaskRef {
  readonly task: string;
  readonly id: string;
}

/** `job.status()`. Timestamps are ms since the epoch. */
export interface TaskRecord {
  readonly id: string;
  /** The task's name. */
  readonly task: string;
  readonly status: TaskStatus;
  /** The attempt that is running or ran last: 1 the first time (0 before any). */
  readonly attempt: number;
  readonly submittedAt?: number;
  /** When the latest attempt started. */
  readonly startedAt?: number;
  /** When the task reached a final status. */
  readonly finishedAt?: number;
  /** The handler's return value (JSON), once `succeeded`. */
  readonly result?: unknown;
  /** The last attempt's failure, when `retrying` or `failed`. */
  readonly error?: TaskFailure;
  /** The run whose result this run was enqueued with (`delay(..., { then })`). */
  readonly previous?: TaskRef;
  /** The run this one enqueues with its result when it succeeds (`delay(..., { then })`). */
  readonly next?: TaskRef;
}

/** A failure in the shape the store keeps. */
export function failureOf(error: unknown): TaskFailure {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === "string" && { code }),
    };
  }
  return { name: "Error", message: String(error) };
}
