import type { Cron } from "croner";
import type { Logger } from "../core/logger.js";
import { MAX_TIMER_MS } from "../core/validate.js";
import type { RedisSource } from "./lock.js";
import { claimTick, lastFiredTick, type ScheduleKeys } from "./schedule-claim.js";

/** A claim Redis has not answered by then is given up: the tick is skipped rather than stop() hang. */
const CLAIM_TIMEOUT_MS = 5_000;
/** Bounds the walk over ticks a blocked process slept through. */
const MAX_SKIPPED_TICKS = 10_000;
/** The shortest life of a tick's claim key; see claimTtl. */
const MIN_CLAIM_TTL_MS = 60_000;
const MAX_CLAIM_TTL_MS = 24 * 60 * 60 * 1_000;

/**
 * How long a tick's claim key lives: it must outlast the latest a slow process could still try that
 * tick (then it would fire it again), and not pile up keys for a schedule that ticks every second.
 * Two periods, at least a minute, at most a day.
 */
function claimTtl(tick: number, following: number | undefined): number {
  const period = following === undefined ? MAX_CLAIM_TTL_MS : following - tick;
  return Math.min(MAX_CLAIM_TTL_MS, Math.max(MIN_CLAIM_TTL_MS, 2 * period));
}

/** What one schedule needs to run; `Scheduler.add` builds it once the options are checked. */
export interface RunnerSettings {
  readonly name: string;
  readonly cron: Cron;
  readonly catchUp: boolean;
  readonly fire: (tick: Date) => Promise<void>;
  readonly keys: ScheduleKeys;
  readonly token: string;
  readonly redis: RedisSource;
  readonly logger: Logger;
}

/**
 * One schedule's timer in one process: sleeps until the next tick, claims it in Redis, fires it if
 * the claim was won, and sleeps again. Ticks are taken from the cron expression, never from when the
 * timer woke, so every process computes the same tick times and claims the same keys.
 */
export class ScheduleRunner {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Claims and fires in progress: stop() waits for them. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly settings: RunnerSettings) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const now = Date.now();
    if (this.settings.catchUp) this.track(this.catchUp(now));
    this.arm(this.settings.cron.nextRun(new Date(now)));
  }

  /** Clears the timer, then waits for the claims and fires in progress. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private arm(tick: Date | null): void {
    if (!this.running || tick === null) return;
    // A wait longer than a timer takes is taken in steps.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, tick.getTime() - Date.now()));
    this.timer = setTimeout(() => this.wake(tick), delay);
  }

  private wake(scheduled: Date): void {
    if (!this.running) return;
    const now = Date.now();
    // Woken before the tick (a long wait taken in steps, or a clock step): sleep the rest.
    if (now < scheduled.getTime()) {
      this.arm(scheduled);
      return;
    }
    // Woken after several ticks (the event loop was blocked, the machine slept): fire only the
    // newest due one; whichever process kept up fired the others.
    let due = scheduled;
    for (let i = 0; i < MAX_SKIPPED_TICKS; i++) {
      const following = this.settings.cron.nextRun(due);
      if (following === null || following.getTime() > now) break;
      due = following;
    }
    const following = this.settings.cron.nextRun(due);
    this.track(this.claimAndFire(due, following));
    this.arm(following);
  }

  /**
   * `catchUp`: the newest tick before start is fired if an earlier tick was fired once (the `last`
   * key) and this one never was. Claimed like any tick, so N processes starting together fire it once.
   */
  private async catchUp(now: number): Promise<void> {
    const [previous] = this.settings.cron.previousRuns(1, new Date(now));
    if (previous === undefined) return;
    try {
      const client = await this.settings.redis();
      const last = await lastFiredTick(client, this.settings.keys);
      if (last === undefined || last >= previous.getTime()) return;
    } catch (error) {
      this.settings.logger.warn({ err: error }, "schedule could not read its last fired tick; no catch-up");
      return;
    }
    this.settings.logger.info({ tick: previous.toISOString() }, "schedule catching up a missed tick");
    await this.claimAndFire(previous, this.settings.cron.nextRun(previous));
  }

  private async claimAndFire(tick: Date, following: Date | null): Promise<void> {
    const { logger, keys, token } = this.settings;
    const at = tick.getTime();
    let won: boolean;
    let timer: NodeJS.Timeout | undefined;
    try {
      const client = await this.settings.redis();
      const ttl = claimTtl(at, following?.getTime());
      won = await Promise.race([
        claimTick(client, keys, at, token, ttl),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Redis did not answer within ${CLAIM_TIMEOUT_MS} ms`)),
            CLAIM_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      // At most once: a tick that cannot be claimed is skipped, never fired without the claim.
      logger.warn({ tick: tick.toISOString(), err: error }, "schedule could not claim its tick; skipped");
      return;
    } finally {
      clearTimeout(timer);
    }
    if (!won) return;
    logger.debug({ tick: tick.toISOString() }, "schedule firing");
    try {
      await this.settings.fire(tick);
    } catch (error) {
      logger.error({ tick: tick.toISOString(), err: error }, "schedule fire failed");
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }
}
