import type { Deadline } from "./deadline.js";
import { InvalidHandlerError, InvalidOptionError } from "./errors.js";
import type { Logger } from "./logger.js";
import { duration, knownKeys, positiveInteger } from "./validate.js";

/** A task run by `app.runEvery`: receives the app, may be sync or async. */
export type PeriodicTask<A> = (app: A) => unknown | Promise<unknown>;

/** Options of `app.runEvery(intervalMs, task, options)`. */
export interface RunEveryOptions {
  /**
   * How many runs of the task may be in progress at once. A tick that finds this many running starts
   * nothing; when one of them finishes, one missed run starts at once and further missed ticks are
   * dropped, so a slow task never builds up a backlog.
   * @defaultValue 1
   */
  maxConcurrency?: number;
}

/** `setInterval` turns a delay above 2^31 - 1 ms into 1 ms: a monthly task would run every millisecond. */
const MAX_INTERVAL_MS = 2 ** 31 - 1;

/**
 * One task registered with `app.runEvery`: a first run at `start`, then one per tick, with at most
 * `maxConcurrency` runs in progress (async-worker's `run_every` with its one catch-up run).
 * Options are checked at construction, so misuse fails where the task is registered.
 */
export class PeriodicTaskRunner<A> {
  readonly name: string;
  readonly intervalMs: number;
  readonly maxConcurrency: number;
  private readonly logger: Logger;
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private app: A | undefined;
  /** A tick found every slot busy: one run is owed, started when a slot frees. */
  private missed = false;
  private stopped = false;

  constructor(
    intervalMs: unknown,
    private readonly task: PeriodicTask<A>,
    options: RunEveryOptions | undefined,
    logger: Logger,
  ) {
    if (intervalMs === undefined) throw new InvalidOptionError("intervalMs", "is required");
    this.intervalMs = duration("intervalMs", intervalMs, 0, 1);
    if (this.intervalMs > MAX_INTERVAL_MS) {
      throw new InvalidOptionError(
        "intervalMs",
        `must be at most ${MAX_INTERVAL_MS}, got ${this.intervalMs}`,
      );
    }
    if (typeof task !== "function") throw new InvalidHandlerError("a periodic task");
    knownKeys("runEvery", options, ["maxConcurrency"]);
    this.maxConcurrency = positiveInteger("maxConcurrency", options?.maxConcurrency, 1);
    this.name = task.name || "periodic";
    this.logger = logger.child({ task: this.name });
  }

  /** Runs the task once now and then on every tick, until `stopTicking()`. */
  start(app: A): void {
    if (this.stopped || this.timer !== undefined) return;
    this.app = app;
    this.launch();
    // Left ref'd on purpose: in an app with no routes this timer is what keeps the process alive
    // between ticks while `run()` waits for a signal.
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.logger.debug(
      { intervalMs: this.intervalMs, maxConcurrency: this.maxConcurrency },
      "periodic task started",
    );
  }

  /** No tick and no catch-up run starts after this; runs in progress go on (see `drain`). */
  stopTicking(): void {
    this.stopped = true;
    this.missed = false;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Waits for the runs in progress until `deadline`. A run still going then is abandoned with a warn
   * log: a task that never returns must not hold the process. Never rejects.
   */
  async drain(deadline: Deadline): Promise<void> {
    if (this.running.size === 0) return;
    const finished = await deadline.race(Promise.all(this.running));
    if (!finished) {
      this.logger.warn(
        { running: this.running.size },
        "periodic task still running at the shutdown deadline; abandoned",
      );
    }
  }

  private tick(): void {
    if (this.running.size < this.maxConcurrency) {
      this.launch();
      return;
    }
    // One owed run, not one per tick: a backlog of catch-up runs would keep a slow task busy forever.
    if (!this.missed) this.logger.debug("every run busy: one run will start when one finishes");
    this.missed = true;
  }

  private launch(): void {
    const run = this.runOnce().finally(() => {
      this.running.delete(run);
      if (this.missed && !this.stopped) {
        this.missed = false;
        this.launch();
      }
    });
    this.running.add(run);
  }

  /** One run; an error (sync throw or rejection) is logged and never stops the schedule. */
  private async runOnce(): Promise<void> {
    try {
      await this.task(this.app as A);
    } catch (error) {
      this.logger.error({ err: error }, "periodic task failed");
    }
  }
}
