import { InvalidHandlerError, InvalidOptionError, LifecycleError, WeirError } from "../core/errors.js";
import { type Logger, sharedDefaultLogger } from "../core/logger.js";
import { knownKeys } from "../core/validate.js";
import type { Backoff } from "./backoff.js";

/**
 * One step with a side effect and the way to undo it (the Command pattern). Keep in the object
 * whatever `rollback` needs, e.g. the id of the row `execute` inserted. Both methods may be sync or
 * return a promise, which is awaited.
 */
export interface Action {
  /** Does the work. Throw to stop the queue; throw {@link ActionRetryError} to be called again. */
  execute(): unknown;
  /**
   * Undoes the work. Called even when `execute` threw (it may have half-done its work), so it must
   * cope with a partial or missing effect. Throw {@link ActionRetryError} to be called again.
   */
  rollback(): unknown;
}

/** Options of {@link ActionRetryError}. */
export interface ActionRetryErrorOptions {
  /**
   * How long the queue waits before calling the method again, in ms.
   * @defaultValue `0`
   */
  backoffMs?: number;
  /** The failure that made the action ask for a retry, kept for logs. */
  cause?: unknown;
}

/**
 * Thrown from `execute` or `rollback` to ask the queue to wait `backoffMs` and call the same method
 * again. The queue retries for as long as the action keeps throwing it, so the action must count
 * its attempts: {@link DoublingBackoff} does that for you.
 */
export class ActionRetryError extends WeirError {
  /** How long the queue waits before the next call, in ms. */
  readonly backoffMs: number;

  constructor(options: ActionRetryErrorOptions = {}) {
    knownKeys("ActionRetryError", options, ["backoffMs", "cause"]);
    const backoffMs = options.backoffMs ?? 0;
    if (!Number.isFinite(backoffMs) || backoffMs < 0) {
      throw new InvalidOptionError("backoffMs", `must be a finite number >= 0, got ${String(backoffMs)}`);
    }
    super("WEIR_ERR_ACTION_RETRY", `action asked to be retried in ${backoffMs} ms`, { cause: options.cause });
    this.backoffMs = backoffMs;
  }
}

/** Options of {@link DoublingBackoff}. */
export interface DoublingBackoffOptions {
  /**
   * How many times `raise` throws {@link ActionRetryError} before it throws the original error.
   * @defaultValue `5`
   */
  retries?: number;
  /**
   * The first delay, in ms; each retry doubles it.
   * @defaultValue `100`
   */
  initialBackoffMs?: number;
}

/**
 * Counts the retries of one action method (actionqueues' `DoublingBackoffExceptionFactory`). Use
 * one instance per method: `execute` and `rollback` have separate budgets.
 *
 * ```ts
 * catch (error) { this.#executeRetries.raise(error); }
 * ```
 */
export class DoublingBackoff implements Backoff {
  /** How many retries `raise` grants in total. */
  readonly retries: number;
  /** The first delay, in ms. */
  readonly initialBackoffMs: number;
  #used = 0;

  constructor(options: DoublingBackoffOptions = {}) {
    knownKeys("DoublingBackoff", options, ["retries", "initialBackoffMs"]);
    this.retries = options.retries ?? 5;
    if (!Number.isSafeInteger(this.retries) || this.retries < 0) {
      throw new InvalidOptionError("retries", `must be an integer >= 0, got ${String(this.retries)}`);
    }
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    if (!Number.isFinite(this.initialBackoffMs) || this.initialBackoffMs < 0) {
      throw new InvalidOptionError(
        "initialBackoffMs",
        `must be a finite number >= 0, got ${String(this.initialBackoffMs)}`,
      );
    }
  }

  /** Retries still available before `raise` gives up. */
  get retriesLeft(): number {
    return this.retries - this.#used;
  }

  /** The delay before retry number `attempt` (1-based), in ms; 0 for attempt 0. */
  get(attempt: number): number {
    return attempt <= 0 ? 0 : this.initialBackoffMs * 2 ** (attempt - 1);
  }

  /**
   * Throws {@link ActionRetryError} with the next doubled delay while retries remain, then throws
   * `originalError` itself, unchanged, on this and every later call.
   */
  raise(originalError: unknown): never {
    if (this.#used >= this.retries) throw originalError;
    this.#used += 1;
    throw new ActionRetryError({ backoffMs: this.get(this.#used), cause: originalError });
  }

  /** Restores the full retry budget, for an action object that is reused. */
  reset(): void {
    this.#used = 0;
  }
}

/** The queue was used out of order: an action added or `execute` called after it started or rolled back. */
export class ActionQueueStateError extends LifecycleError {
  constructor(message: string) {
    super("WEIR_ERR_ACTION_QUEUE_STATE", message);
  }
}

/** A rollback that threw something other than {@link ActionRetryError}. */
export interface RollbackFailure {
  /** The action whose `rollback` threw. */
  action: Action;
  /** Its position in the queue, from 0. */
  index: number;
  /** What it threw. */
  error: unknown;
}

/** What {@link ActionQueue.rollback} did. */
export interface RollbackReport {
  /** How many actions rolled back without error. */
  rolledBack: number;
  /** The rollbacks that failed, in the order they were called (last action first). */
  failures: RollbackFailure[];
}

/** Options of {@link ActionQueue}. */
export interface ActionQueueOptions {
  /**
   * Receives a `warn` for each retry and an `error` for each failed rollback.
   * @defaultValue weir's default logger (`WEIR_LOG_LEVEL`, `WEIR_LOG_FORMAT`), one for the process
   */
  logger?: Logger;
}

// Always a timer, even for 0 ms: an action that keeps asking for immediate retries must not
// starve the event loop with a microtask-only loop.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs actions in order and, when asked, undoes the ones that ran (actionqueues' `ActionQueue`).
 *
 * `execute()` stops at the first action that throws and rethrows its error; the caller decides,
 * e.g. after logging, to call `rollback()`, which calls `rollback` on every action whose `execute`
 * was called, the failing one included, last first. A failing rollback is logged and reported, and
 * the earlier actions still roll back.
 */
export class ActionQueue {
  readonly #actions: Action[] = [];
  readonly #logger: Logger;
  #started = 0;
  #execution: Promise<void> | undefined;
  #rollback: Promise<RollbackReport> | undefined;

  constructor(options: ActionQueueOptions = {}) {
    knownKeys("ActionQueue", options, ["logger"]);
    this.#logger = options.logger ?? sharedDefaultLogger();
  }

  /** How many actions had `execute` called, the one that threw included: those `rollback()` undoes. */
  get executedCount(): number {
    return this.#started;
  }

  /** Appends an action. Only allowed before `execute()`. Returns the queue, for chaining. */
  add(action: Action): this {
    if (this.#execution || this.#rollback) {
      throw new ActionQueueStateError("cannot add an action after execute() or rollback() was called");
    }
    if (typeof action?.execute !== "function") throw new InvalidHandlerError("action.execute");
    if (typeof action.rollback !== "function") throw new InvalidHandlerError("action.rollback");
    this.#actions.push(action);
    return this;
  }

  /**
   * Calls each action's `execute`, in the order added, waiting for each. Rejects with the first
   * error an action throws (other than {@link ActionRetryError}, which retries it). Calling it again
   * returns the same promise: actions never run twice.
   */
  execute(): Promise<void> {
    if (this.#rollback) {
      return Promise.reject(new ActionQueueStateError("cannot execute a queue after rollback() was called"));
    }
    this.#execution ??= this.#runExecute();
    return this.#execution;
  }

  /**
   * Calls `rollback` on every action whose `execute` was called, last first. Never rejects because
   * of an action: failures are logged and listed in the report. If `execute()` is still running, it
   * waits for it first so an action is never undone while it runs. Calling it again returns the
   * same promise.
   */
  rollback(): Promise<RollbackReport> {
    this.#rollback ??= this.#runRollback();
    return this.#rollback;
  }

  async #runExecute(): Promise<void> {
    for (const [index, action] of this.#actions.entries()) {
      // Counted before the call: an action that throws may have done part of its work.
      this.#started = index + 1;
      await this.#withRetries(index, "execute", () => action.execute());
    }
  }

  async #runRollback(): Promise<RollbackReport> {
    if (this.#execution) await this.#execution.catch(() => undefined);
    const report: RollbackReport = { rolledBack: 0, failures: [] };
    for (let index = this.#started - 1; index >= 0; index -= 1) {
      const action = this.#actions[index]!;
      try {
        await this.#withRetries(index, "rollback", () => action.rollback());
        report.rolledBack += 1;
      } catch (error) {
        this.#logger.error({ err: error, action: index }, "action rollback failed; rolling back the others");
        report.failures.push({ action, index, error });
      }
    }
    return report;
  }

  // Unbounded on purpose (actionqueues' contract): the action owns its retry budget.
  async #withRetries(index: number, method: keyof Action, call: () => unknown): Promise<void> {
    for (;;) {
      try {
        await call();
        return;
      } catch (error) {
        if (!(error instanceof ActionRetryError)) throw error;
        this.#logger.warn({ action: index, method, backoffMs: error.backoffMs }, "action retry requested");
        await sleep(error.backoffMs);
      }
    }
  }
}
