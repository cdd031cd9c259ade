import { WeirError } from "../core/errors.js";
import { formatIssues, type SchemaIssue } from "../core/schema.js";
import type { TaskFailure } from "./record.js";

/** `task.delay` was given a payload the task's schema refuses; nothing was published. */
export class TaskPayloadError extends WeirError {
  readonly issues: readonly SchemaIssue[];

  constructor(task: string, issues: readonly SchemaIssue[]) {
    super("WEIR_ERR_TASK_PAYLOAD", `task "${task}": the payload fails its schema: ${formatIssues(issues)}`);
    this.issues = issues;
  }
}

/**
 * `job.result()`: the task failed for good (its last attempt threw, or ran past its `timeout`).
 * `failure` is what the worker recorded: the error's name, message and code.
 */
export class TaskFailedError extends WeirError {
  readonly taskId: string;
  readonly failure: TaskFailure;

  constructor(task: string, taskId: string, failure: TaskFailure) {
    super(
      "WEIR_ERR_TASK_FAILED",
      `task "${task}" (${taskId}) failed: ${failure.code === undefined ? "" : `${failure.code}: `}${failure.message}`,
    );
    this.taskId = taskId;
    this.failure = failure;
  }
}

/** `job.result({ timeout })`: the task did not end within `timeout` ms. It may still run. */
export class TaskResultTimeoutError extends WeirError {
  readonly taskId: string;

  constructor(task: string, taskId: string, timeoutMs: number) {
    super("WEIR_ERR_TASK_RESULT_TIMEOUT", `task "${task}" (${taskId}) did not end within ${timeoutMs} ms`);
    this.taskId = taskId;
  }
}

/** `job.result()`: the task was revoked (`job.revoke()`, `weir tasks revoke`) before it ended. */
export class TaskRevokedError extends WeirError {
  readonly taskId: string;

  constructor(task: string, taskId: string) {
    super("WEIR_ERR_TASK_REVOKED", `task "${task}" (${taskId}) was revoked`);
    this.taskId = taskId;
  }
}

/**
 * `job.status()`, `job.result()`: nothing is known of this id: never submitted with results on, or
 * its record expired (`results.ttl`).
 */
export class TaskUnknownError extends WeirError {
  readonly taskId: string;

  constructor(task: string, taskId: string) {
    super(
      "WEIR_ERR_TASK_UNKNOWN",
      `task "${task}": no record of ${taskId} (never submitted with results on, or expired after results.ttl)`,
    );
    this.taskId = taskId;
  }
}

/** A handle of a task defined with `results: false`: it keeps no status or result to read. */
export class TaskResultsDisabledError extends WeirError {
  constructor(task: string) {
    super(
      "WEIR_ERR_TASK_NO_RESULTS",
      `task "${task}" is defined with results: false: it keeps no status or result`,
    );
  }
}

/**
 * The handler's return value cannot be stored: not JSON-serialisable (a cycle, a BigInt) or larger
 * than `results.maxBytes`. The run counts as failed (this is its recorded failure).
 */
export class TaskResultError extends WeirError {
  constructor(task: string, reason: string, options?: { cause?: unknown }) {
    super("WEIR_ERR_TASK_RESULT", `task "${task}": its result cannot be stored: ${reason}`, options);
  }
}

/**
 * `task.delay(payload, { priority })` on a task without priorities: its transport has none (SQS,
 * Redis Streams, NATS), or the AMQP task was defined without `maxPriority`; or a priority out of range.
 */
export class TaskPriorityError extends WeirError {
  constructor(task: string, reason: string) {
    super("WEIR_ERR_TASK_PRIORITY", `task "${task}": ${reason}`);
  }
}

/**
 * `app.task(..., { transport })` names a transport the app has not, or one that cannot carry tasks;
 * or a worker must send a callback (`then`) of a task its app does not define.
 */
export class TaskTransportError extends WeirError {
  constructor(task: string, reason: string) {
    super("WEIR_ERR_TASK_TRANSPORT", `task "${task}": ${reason}`);
  }
}

/**
 * The task store (Redis, the app's `redis.url`) could not be reached, refused a command, or was
 * closed by `app.stop()` while a handle waited; the message names the server (without password),
 * `cause` says why.
 */
export class TaskStoreError extends WeirError {
  constructor(action: string, options: { cause: unknown }, server?: string) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    const where = server === undefined ? "" : ` on ${server}`;
    super(
      "WEIR_ERR_TASK_STORE",
      `task store${where}: ${action} failed: ${reason} (is Redis running there? the app's redis.url, else WEIR_REDIS_URL)`,
      options,
    );
  }
}
