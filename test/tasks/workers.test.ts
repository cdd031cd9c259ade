import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliProcess, runCli } from "../cli/helpers.js";
import { Broker, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { REDIS_URL } from "../helpers/redis.js";
import { buildTaskApp } from "./fixtures/task-app.js";

/**
 * Tasks across processes: `weir run --workers 2` handles 1,000 runs delayed from this process, and a
 * worker killed with SIGKILL mid-run leaves the run `running` until its message is redelivered.
 */

const prefix = uniqueName("task-workers");
let broker: Broker;
let producer: ReturnType<typeof buildTaskApp>;

beforeAll(async () => {
  broker = await Broker.connect();
  producer = buildTaskApp(prefix, "task-producer");
});

afterAll(async () => {
  await producer.app.stop();
  const redis = new Redis(REDIS_URL, { protocol: 2, maxRetriesPerRequest: 1 });
  await redis.del(`weir:schedule:${prefix}.every-second:last`);
  await redis.quit();
  for (const task of ["square", "double", "fail", "waits", "limited", "tick"]) {
    for (const suffix of ["", ".retry.100", ".dlq"])
      await broker.deleteQueue(`${prefix}.${task}${suffix}`).catch(() => {});
  }
  await broker.close();
});

function workerPids(weir: CliProcess): number[] {
  return [...weir.stderr.matchAll(/worker \d+ \(pid (\d+)\) ready/g)].map((match) => Number(match[1]));
}

describe("tasks on weir run --workers", () => {
  it("1,000 runs delayed from one process, handled by two workers: every result() is its own value", async () => {
    const weir = new CliProcess(["run", "test/tasks/fixtures/task-app.ts", "--workers", "2"], {
      TASKS_PREFIX: prefix,
      TASKS_MARK: "1",
    });
    try {
      await waitFor(() => workerPids(weir).length === 2, 30_000, "2 workers to be ready");
      const jobs = [];
      // 50 sends in flight at a time: each is a Redis write and a confirmed publish.
      for (let start = 0; start < 1_000; start += 50) {
        const batch = Array.from({ length: 50 }, (_, i) => producer.square.delay({ n: start + i }));
        jobs.push(...(await Promise.all(batch)));
      }
      expect(new Set(jobs.map((job) => job.id)).size).toBe(1_000);
      const results = await Promise.all(jobs.map((job) => job.result({ timeout: 60_000 })));
      expect(results).toEqual(Array.from({ length: 1_000 }, (_, n) => ({ n, square: n * n })));
      // The workers' lines can reach this process after the results reached it through Redis.
      await waitFor(() => (weir.stdout.match(/^ran /gm) ?? []).length >= 1_000, 10_000, "every run's line");
      const ranBy = new Map<number, number>();
      const ran = new Set<number>();
      for (const [, n, pid] of weir.stdout.matchAll(/^ran (\d+) (\d+)$/gm)) {
        ranBy.set(Number(pid), (ranBy.get(Number(pid)) ?? 0) + 1);
        ran.add(Number(n));
      }
      expect(ran.size).toBe(1_000);
      // Both workers took a share; together each run once (a duplicate would be skipped: succeeded).
      expect([...ranBy.keys()].sort()).toEqual(workerPids(weir).sort());
      expect([...ranBy.values()].reduce((a, b) => a + b, 0)).toBe(1_000);

      // The round trip delay() -> result(), one run at a time (reported, not asserted).
      const times: number[] = [];
      for (let n = 0; n < 100; n++) {
        const sentAt = performance.now();
        await (await producer.square.delay({ n })).result({ timeout: 10_000 });
        times.push(performance.now() - sentAt);
      }
      times.sort((a, b) => a - b);
      console.log(
        `task round trip over weir run --workers 2: p50 ${times[50]!.toFixed(2)} ms, p90 ${times[90]!.toFixed(2)} ms, max ${times[99]!.toFixed(2)} ms`,
      );
    } finally {
      weir.kill("SIGTERM");
      expect((await weir.exited).code).toBe(0);
    }
  }, 120_000);

  it("a worker killed mid-run leaves it running until the message is redelivered, then it succeeds", async () => {
    const weir = new CliProcess(["run", "test/tasks/fixtures/task-app.ts", "--workers", "2"], {
      TASKS_PREFIX: prefix,
      TASKS_MARK: "1",
    });
    try {
      await waitFor(() => workerPids(weir).length === 2, 30_000, "the workers to be ready");
      const job = await producer.waits.delay({ ms: 1_500 });
      await waitFor(async () => (await job.status()).status === "running", 10_000, "the run to start");
      // The worker that runs it says so (fixture: "waiting <pid>"); its line may reach this process
      // after the run's status reached Redis.
      await waitFor(() => /^waiting \d+$/m.test(weir.stdout), 10_000, "the worker to say it runs the task");
      const first = Number(/^waiting (\d+)$/m.exec(weir.stdout)?.[1]);
      expect(workerPids(weir)).toContain(first);
      process.kill(first, "SIGKILL");
      // The record still says running: attempt 1 while no worker holds it, or already attempt 2 if
      // the broker redelivered it to the other worker at once.
      const afterKill = await job.status();
      expect(afterKill.status).toBe("running");
      expect([1, 2]).toContain(afterKill.attempt);
      // weir run starts a new worker; the broker redelivers the unacked message to it.
      expect(await job.result({ timeout: 30_000 })).toBe("waited");
      const record = await job.status();
      expect(record).toMatchObject({ status: "succeeded", attempt: 2 });
      // The second attempt ran in another process: the other worker, or the one weir run restarted.
      const second = [...weir.stdout.matchAll(/^waiting (\d+)$/gm)].map((match) => Number(match[1]));
      expect(second).toHaveLength(2);
      expect(second[1]).not.toBe(first);
    } finally {
      weir.kill("SIGTERM");
      await weir.exited;
    }
  }, 90_000);

  it("a schedule every second fires once per tick across two workers for 10 s", async () => {
    const env = { TASKS_PREFIX: prefix, TASKS_MARK: "1", TASKS_SCHEDULE: "1" };
    const routes = await runCli(["routes", "test/tasks/fixtures/task-app.ts"], env);
    expect(routes.stdout).toMatch(
      new RegExp(`^schedule +${prefix}.every-second +cron=\\* \\* \\* \\* \\* \\* next=\\d{4}-`, "m"),
    );
    const weir = new CliProcess(["run", "test/tasks/fixtures/task-app.ts", "--workers", "2"], env);
    try {
      await waitFor(() => workerPids(weir).length === 2, 30_000, "2 workers to be ready");
      const from = Date.now();
      await sleep(10_000);
      const ticks = [...weir.stdout.matchAll(/^tick schedule:\S+:(\d+) (\d+)$/gm)]
        .map((match) => ({ at: Number(match[1]), pid: Number(match[2]) }))
        .filter((tick) => tick.at >= from);
      const perTick = new Map<number, number>();
      for (const tick of ticks) perTick.set(tick.at, (perTick.get(tick.at) ?? 0) + 1);
      // Ticks of whole seconds, each run once, and both workers fired some of them.
      expect(perTick.size).toBeGreaterThanOrEqual(8);
      expect([...perTick.values()].every((count) => count === 1)).toBe(true);
      expect([...perTick.keys()].every((at) => at % 1_000 === 0)).toBe(true);
      console.log(
        `schedule over 10 s: ${perTick.size} ticks, runs per worker ${JSON.stringify(Object.fromEntries(countBy(ticks.map((tick) => tick.pid))))}`,
      );
    } finally {
      weir.kill("SIGTERM");
      expect((await weir.exited).code).toBe(0);
    }
  }, 60_000);
});

function countBy(values: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}
