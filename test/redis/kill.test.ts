import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ChildWorker } from "../helpers/child-worker.js";
import { RedisHelper, uniqueStream } from "../helpers/redis.js";
import { until } from "../transports/delivery-behaviour.js";

function counts(ids: readonly number[]): Map<number, number> {
  const seen = new Map<number, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  return seen;
}

describe("redis: a worker killed with SIGKILL (celery #1628, @golevelup #688)", () => {
  const workers: ChildWorker[] = [];
  let redis: RedisHelper | undefined;
  afterEach(async () => {
    for (const worker of workers.splice(0)) if (!worker.exited) worker.kill("SIGKILL");
    await redis?.close();
  });

  it("SIGKILL mid-bulk: another worker of the group takes over its pending entries (XAUTOCLAIM); none lost, duplicates only as flagged redeliveries", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("kill9"));
    const total = 600;
    await redis.publish(
      stream,
      Array.from({ length: total }, (_, id) => ({ id })),
    );
    const env = {
      STREAM: stream,
      APP_NAME: `kill9-${randomUUID().slice(0, 8)}`,
      BULK_SIZE: "20",
      PREFETCH: "100",
      HANDLER_DELAY_MS: "50",
      CLAIM_IDLE_MS: "1000",
    };
    const spawn = (extra: Record<string, string> = {}) => {
      const worker = new ChildWorker({ ...env, ...extra }, "test/redis/worker.ts");
      workers.push(worker);
      return worker;
    };
    const first = spawn();
    await until(
      () => first.doneIds.length >= 100 && first.started.length > first.done.length,
      "the first worker mid-bulk",
      30_000,
    );
    first.kill("SIGKILL");
    await first.waitExit(5_000);
    const killedAt = Date.now();
    const startedNotDone = new Set(first.started.slice(first.done.length).flat());
    const second = spawn({ HANDLER_DELAY_MS: "0" });
    const processed = () => new Set([...first.doneIds, ...second.doneIds]).size;
    await until(() => processed() === total, "every id processed", 60_000);
    const resumedMs = Date.now() - killedAt;
    await until(async () => (await redis!.backlog(stream)) === 0, "nothing pending in the group", 15_000);
    second.kill("SIGTERM");
    await second.waitExit(15_000);

    const all = counts([...first.doneIds, ...second.doneIds]);
    const twice = [...all].filter(([, n]) => n > 1).map(([id]) => id);
    const flagged = new Set(
      second.lines
        .filter((line) => line.startsWith("redelivered "))
        .flatMap((line) => line.slice(12).split(",").map(Number)),
    );
    console.log(
      `[redis kill -9] published=${total} processed=${all.size} lost=${total - all.size} duplicates=${twice.length} ` +
        `inFlightAtKill=${startedNotDone.size} reclaimedFlagged=${flagged.size} allDoneMs=${resumedMs}`,
    );
    expect(startedNotDone.size).toBeGreaterThan(0);
    expect(all.size).toBe(total); // lost: 0
    // Whatever ran twice came back flagged redelivered (the pending list's delivery count).
    for (const id of twice) expect(flagged.has(id)).toBe(true);
    // The bulk the kill interrupted was handed to the second worker as redeliveries.
    for (const id of startedNotDone) expect(flagged.has(id)).toBe(true);
    expect(second.exited?.code).toBe(0);
  }, 120_000);
});
