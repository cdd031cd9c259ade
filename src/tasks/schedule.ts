import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { Cron } from "croner";
import { ConfigurationError, InvalidHandlerError, InvalidOptionError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { knownKeys, nonEmptyString } from "../core/validate.js";
import type { RedisSource } from "./lock.js";
import { scheduleKeys } from "./schedule-claim.js";
import { ScheduleCronError } from "./schedule-errors.js";
import { ScheduleRunner } from "./schedule-runner.js";

export { ScheduleCronError } from "./schedule-errors.js";

/** Options of `scheduler.add(name, cron, fire, options)`. */
export interface ScheduleOptions {
  /**
   * The IANA timezone the cron expression is read in (`"Europe/Paris"`). Give one when processes may
   * run in different zones, so all of them compute the same ticks.
   * @defaultValue the process's local timezone
   */
  timezone?: string;
  /**
   * At start, fire the newest tick missed while no process ran the schedule (one tick at most, and
   * only if the schedule fired at least once before). Without it a missed tick is never replayed.
   * @defaultValue false
   */
  catchUp?: boolean;
}

/** One schedule of a `Scheduler`, as `entries()` lists it. */
export interface ScheduleEntry {
  readonly name: string;
  /** The cron expression as given (5 fields, or 6 with seconds first, or 7 with a year). */
  readonly cron: string;
  readonly timezone: string | undefined;
  /** The next tick after now, or `undefined` if the expression fires no more. */
  nextRun(): Date | undefined;
}

/** Options of `new Scheduler(options)`. */
export interface SchedulerOptions {
  /** Where the Redis connection comes from (`RedisConnection.client`, or the app's). */
  redis: RedisSource;
  /** Where fires that fail, skipped ticks and catch-ups are logged. */
  logger: Logger;
  /**
   * Prefix of the keys: `<keyPrefix><name>:<tick-epoch-ms>` per tick, `<keyPrefix><name>:last`.
   * @defaultValue "weir:schedule:"
   */
  keyPrefix?: string;
}

const SCHEDULER_KEYS = ["redis", "logger", "keyPrefix"];
const SCHEDULE_KEYS = ["timezone", "catchUp"];

/** croner, loaded on the first `add`: `import "weir"` does not load it (test/core/lazy-load.test.ts). */
let croner: typeof import("croner") | undefined;

function loadCroner(): typeof import("croner") {
  croner ??= createRequire(import.meta.url)("croner") as typeof import("croner");
  return croner;
}

/**
 * Fires callbacks on cron expressions (parsed by croner), once per tick across every process that
 * runs the same schedule: at each tick each process tries `SET <keyPrefix><name>:<tick> <token> NX`
 * in Redis and only the one that set it fires. A tick is fired at most once: if Redis cannot be
 * reached at the tick, the tick is skipped (logged), not fired unclaimed.
 *
 * A `fire` that throws is logged and the schedule goes on; `fire`s are not awaited by the timer, so
 * a slow one does not delay the next tick (hold a `Lock` in it to keep runs from overlapping).
 */
export class Scheduler {
  private readonly redis: RedisSource;
  private readonly logger: Logger;
  private readonly keyPrefix: string;
  /** Tells this process's claims apart from the others' in Redis (`GET` of a tick's key). */
  private readonly token = randomBytes(8).toString("hex");
  private readonly schedules = new Map<string, { entry: ScheduleEntry; runner: ScheduleRunner }>();
  private started = false;

  /** @throws InvalidOptionError `WEIR_ERR_INVALID_OPTION` for a missing `redis` or `logger`, or an unknown option */
  constructor(options: SchedulerOptions) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidOptionError("scheduler", "needs options like { redis, logger }");
    }
    knownKeys("scheduler", options, SCHEDULER_KEYS);
    if (typeof options.redis !== "function") {
      throw new InvalidOptionError("redis", "must be a function returning a Redis client");
    }
    if (typeof options.logger !== "object" || options.logger === null) {
      throw new InvalidOptionError("logger", "is required");
    }
    this.redis = options.redis;
    this.logger = options.logger;
    this.keyPrefix = nonEmptyString("keyPrefix", options.keyPrefix, "weir:schedule:");
  }

  /**
   * Adds a schedule: `fire(tick)` runs at each tick of `cron`, `tick` being the tick's time (not the
   * moment the timer woke). Added to a started scheduler, it starts at once.
   * @throws ScheduleCronError `WEIR_ERR_SCHEDULE_CRON` for a cron expression or timezone croner refuses, or one that never fires
   * @throws ConfigurationError `WEIR_ERR_DUPLICATE_SCHEDULE` for a name already added
   * @throws InvalidHandlerError `WEIR_ERR_HANDLER_NOT_FUNCTION` when `fire` is not a function
   * @throws InvalidOptionError `WEIR_ERR_INVALID_OPTION` for an empty name or a bad or unknown option
   */
  add(
    name: string,
    cron: string,
    fire: (tick: Date) => Promise<void>,
    options?: ScheduleOptions,
  ): ScheduleEntry {
    nonEmptyString("name", name);
    if (this.schedules.has(name)) {
      throw new ConfigurationError(
        "WEIR_ERR_DUPLICATE_SCHEDULE",
        `a schedule named "${name}" is already added`,
      );
    }
    if (typeof fire !== "function") throw new InvalidHandlerError(`the fire callback of schedule "${name}"`);
    knownKeys("schedule", options, SCHEDULE_KEYS);
    const timezone = options?.timezone;
    if (timezone !== undefined) nonEmptyString("timezone", timezone);
    const catchUp = options?.catchUp ?? false;
    if (typeof catchUp !== "boolean") {
      throw new InvalidOptionError("catchUp", `must be a boolean, got ${String(catchUp)}`);
    }
    const parsed = parseCron(name, cron, timezone);
    const entry: ScheduleEntry = {
      name,
      cron,
      timezone,
      nextRun: () => parsed.nextRun() ?? undefined,
    };
    const runner = new ScheduleRunner({
      name,
      cron: parsed,
      catchUp,
      fire,
      keys: scheduleKeys(this.keyPrefix, name),
      token: this.token,
      redis: this.redis,
      logger: this.logger.child({ schedule: name }),
    });
    this.schedules.set(name, { entry, runner });
    if (this.started) runner.start();
    return entry;
  }

  /** The schedules, in the order they were added. */
  entries(): readonly ScheduleEntry[] {
    return [...this.schedules.values()].map(({ entry }) => entry);
  }

  /** Starts every schedule's timer (and `catchUp`'s check). Calling it again does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const { runner } of this.schedules.values()) runner.start();
  }

  /**
   * Stops the timers (none keeps the process alive afterwards), then resolves once the claims and
   * fires in progress have ended. `start()` may be called again after.
   */
  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.schedules.values()].map(({ runner }) => runner.stop()));
  }
}

/** croner's parse, its errors turned into weir's coded one. */
function parseCron(name: string, cron: string, timezone: string | undefined): Cron {
  if (typeof cron !== "string" || cron.trim() === "") {
    throw new ScheduleCronError(name, String(cron), "must be a non-empty string");
  }
  const { Cron } = loadCroner();
  let parsed: Cron;
  let first: Date | null;
  try {
    // No callback: croner only parses and computes ticks; the runner keeps the timers.
    parsed = new Cron(cron, timezone === undefined ? {} : { timezone });
    // A bad timezone shows only when a date is computed in it.
    first = parsed.nextRun();
  } catch (error) {
    throw new ScheduleCronError(name, cron, error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
  if (first === null) throw new ScheduleCronError(name, cron, "it never fires");
  return parsed;
}
