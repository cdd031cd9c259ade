import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { ScheduleCronError, Scheduler } from "../../src/index.js";
import { captureLogs, ERROR, linesMatching } from "../helpers/logs.js";
import { REDIS_URL, RedisHelper, silentLogger } from "../helpers/redis.js";
import { startFixture } from "../helpers/run-fixture.js";

const FIXTURE = join(import.meta.dirname, "fixtures/schedule-fixture.ts");
const EVERY_SECOND = "* * * * * *";
const helper = new RedisHelper();
const redis = () => helper.client;

afterAll(async () => {
  // The tick keys of the schedules these tests ran (each expires by itself, but need not linger).
  const keys = await helper.client.keys("weir:schedule:test-*");
  if (keys.length > 0) await helper.client.del(...keys);
  await helper.close();
});

function uniqueName(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}

/** Polls `check` every 20 ms until it holds, at most `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}

describe("Scheduler across processes (real Redis)", () => {
  it("fires every tick exactly once with two processes running the same schedule for 10 s", async () => {
    const name = uniqueName();
    const log = `weir-test:schedule-log:${name}`;
    for (const key of [log, `${log}:ready`, `${log}:by`]) helper.track(key);
    const env = { REDIS_URL, LOG: log, NAME: name, PEERS: "2", RUN_MS: "10000" };
    const children = ["a", "b"].map((id) => startFixture(FIXTURE, { ...env, ID: id }));
    // Each exits by itself once stopped: no timer of the scheduler keeps it alive.
    const results = await Promise.all(children.map((child) => child.waitExit(60_000)));
    for (const result of results) expect(result.code, result.stderr).toBe(0);

    const counts = await helper.client.hgetall(log);
    const ticks = Object.keys(counts).map(Number);
    expect(ticks.length).toBeGreaterThanOrEqual(8);
    for (const [tick, count] of Object.entries(counts)) expect({ tick, count }).toEqual({ tick, count: "1" });
    // Ticks are whole seconds, as the cron expression says, not whenever a timer woke.
    for (const tick of ticks) expect(tick % 1_000).toBe(0);
    const by = await helper.client.lrange(`${log}:by`, 0, -1);
    expect(by).toHaveLength(ticks.length);
    console.log(
      `schedule across 2 processes: ${ticks.length} ticks, fired by a: ${by.filter((line) => line.startsWith("a ")).length}, b: ${by.filter((line) => line.startsWith("b ")).length}`,
    );
  }, 90_000);
});

describe("Scheduler (real Redis)", () => {
  /** Runs the schedule `name` in this process until it fired `count` ticks; the ticks, epoch ms. */
  async function runUntil(name: string, count: number, catchUp: boolean): Promise<number[]> {
    const fired: number[] = [];
    const scheduler = new Scheduler({ redis, logger: silentLogger });
    scheduler.add(name, EVERY_SECOND, async (tick) => void fired.push(tick.getTime()), { catchUp });
    scheduler.start();
    try {
      await until(() => fired.length >= count);
    } finally {
      await scheduler.stop();
    }
    return fired;
  }

  it("does not replay a tick missed while no process ran it, unless catchUp", async () => {
    const name = uniqueName();
    const before = await runUntil(name, 1, false);
    // Nobody runs the schedule for two ticks or more.
    await sleep(2_200);
    const restart = Date.now();
    const without = await runUntil(name, 1, false);
    expect(without[0]).toBeGreaterThan(restart);

    await sleep(2_200);
    const again = Date.now();
    // Sorted: the catch-up's claim (two round trips) and the first regular tick may finish in either order.
    const caught = (await runUntil(name, 2, true)).sort((a, b) => a - b);
    // The newest missed tick first (before the restart, after the last fired one), then the schedule.
    expect(caught[0]).toBeLessThan(again);
    expect(caught[0]).toBeGreaterThan(without.at(-1)!);
    expect(caught[0]).toBe(Math.floor(again / 1_000) * 1_000);
    expect(caught[1]).toBeGreaterThan(again);
    expect(before[0]).toBeLessThan(without[0]!);
  }, 30_000);

  it("catchUp fires nothing for a schedule that never fired before", async () => {
    const name = uniqueName();
    const start = Date.now();
    const fired = await runUntil(name, 1, true);
    expect(fired[0]).toBeGreaterThan(start);
  });

  it("logs a failing fire and goes on with the next ticks", async () => {
    const { logger, lines } = captureLogs();
    const scheduler = new Scheduler({ redis, logger });
    let calls = 0;
    scheduler.add(uniqueName(), EVERY_SECOND, async () => {
      calls++;
      if (calls === 1) throw new Error("the report failed");
    });
    scheduler.start();
    try {
      await until(() => calls >= 2);
    } finally {
      await scheduler.stop();
    }
    const failures = linesMatching(lines, /schedule fire failed/);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.level).toBe(ERROR);
    expect(JSON.stringify(failures[0])).toContain("the report failed");
  });

  it("starts a schedule added to a started scheduler, and stop() leaves no timer behind", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((type) => type === "Timeout").length;
    const idle = timers();
    const scheduler = new Scheduler({ redis, logger: silentLogger });
    scheduler.start();
    let calls = 0;
    scheduler.add(uniqueName(), EVERY_SECOND, async () => void calls++);
    await until(() => calls >= 1);
    await scheduler.stop();
    // Not more than before it started (another test's timer may have ended meanwhile).
    expect(timers()).toBeLessThanOrEqual(idle);
  });

  it("stop() waits for a fire in progress", async () => {
    const scheduler = new Scheduler({ redis, logger: silentLogger });
    let started = false;
    let finished = false;
    scheduler.add(uniqueName(), EVERY_SECOND, async () => {
      started = true;
      await sleep(300);
      finished = true;
    });
    scheduler.start();
    await until(() => started);
    await scheduler.stop();
    expect(finished).toBe(true);
  });
});

describe("Scheduler.add", () => {
  const scheduler = new Scheduler({ redis, logger: silentLogger });
  const fire = async () => {};

  it("refuses a bad cron expression or timezone with WEIR_ERR_SCHEDULE_CRON", () => {
    for (const [cron, timezone] of [
      ["not a cron", undefined],
      ["61 * * * *", undefined],
      ["", undefined],
      ["* * * * *", "Nowhere/Atlantis"],
      ["0 0 30 2 *", undefined],
    ] as const) {
      let error: unknown;
      try {
        scheduler.add(uniqueName(), cron, fire, timezone === undefined ? {} : { timezone });
      } catch (caught) {
        error = caught;
      }
      expect(error, `${cron} ${timezone}`).toBeInstanceOf(ScheduleCronError);
      expect(error).toMatchObject({ code: "WEIR_ERR_SCHEDULE_CRON" });
    }
  });

  it("refuses a duplicate name with WEIR_ERR_DUPLICATE_SCHEDULE", () => {
    const name = uniqueName();
    scheduler.add(name, "0 * * * *", fire);
    expect(() => scheduler.add(name, "30 * * * *", fire)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_DUPLICATE_SCHEDULE" }),
    );
  });

  it("lists entries with their next run", () => {
    const own = new Scheduler({ redis, logger: silentLogger });
    own.add("nightly", "0 3 * * *", fire, { timezone: "Europe/Paris" });
    own.add("yearly", "0 0 1 1 *", fire);
    const [nightly, yearly] = own.entries();
    expect(nightly).toMatchObject({ name: "nightly", cron: "0 3 * * *", timezone: "Europe/Paris" });
    expect(nightly!.nextRun()!.getTime()).toBeGreaterThan(Date.now());
    expect(yearly!.timezone).toBeUndefined();
    expect(yearly!.nextRun()!.getTime()).toBeGreaterThan(nightly!.nextRun()!.getTime() - 24 * 3_600_000);
  });

  it("refuses bad options with WEIR_ERR_INVALID_OPTION", () => {
    expect(() => scheduler.add(uniqueName(), "* * * * *", fire, { catchup: true } as object)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
    expect(() => scheduler.add("", "* * * * *", fire)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
    expect(() => new Scheduler({ logger: silentLogger } as never)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
  });
});
