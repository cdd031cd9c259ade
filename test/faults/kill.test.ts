import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Broker, uniqueName, waitFor } from "../helpers/amqp.js";
import { ChildWorker } from "../helpers/child-worker.js";
import { report } from "./report.js";

function counts(ids: number[]): Map<number, number> {
  const seen = new Map<number, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  return seen;
}

describe("fault: worker processes killed (celery #1628, @golevelup #688, async-worker #108)", () => {
  let broker: Broker;
  const workers: ChildWorker[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) if (!worker.exited) worker.kill("SIGKILL");
    await broker.close();
  });

  function spawnWorker(env: Record<string, string>): ChildWorker {
    const worker = new ChildWorker({ APP_NAME: uniqueName("child"), ...env });
    workers.push(worker);
    return worker;
  }

  it("SIGKILL mid-bulk: a second worker finishes the queue and no id is lost", async () => {
    const queue = await broker.queue(uniqueName("kill9"));
    const total = 2000;
    await broker.publish(
      queue,
      Array.from({ length: total }, (_, id) => ({ id })),
    );
    const env = { QUEUE: queue, BULK_SIZE: "20", PREFETCH: "100", HANDLER_DELAY_MS: "50" };
    const first = spawnWorker(env);
    await waitFor(
      () => first.doneIds.length >= 200 && first.started.length > first.done.length,
      30_000,
      "mid-bulk",
    );
    first.kill("SIGKILL");
    await first.waitExit(5000);
    const killedMidBulk = first.started.length > first.done.length;
    const second = spawnWorker({ ...env, HANDLER_DELAY_MS: "0" });
    const processed = () => new Set([...first.doneIds, ...second.doneIds]).size;
    await waitFor(() => processed() === total, 60_000, "every id processed");
    await waitFor(async () => (await broker.count(queue)) === 0, 10_000, "an empty queue");
    second.kill("SIGTERM");
    await second.waitExit(15_000);
    const all = counts([...first.doneIds, ...second.doneIds]);
    const duplicates = [...all.values()].filter((n) => n > 1).length;
    report("sigkill", {
      published: total,
      processed: all.size,
      duplicates,
      lost: total - all.size,
      killedMidBulk,
    });
    expect(killedMidBulk).toBe(true);
    expect(all.size).toBe(total);
    expect(second.exited?.code).toBe(0);
  }, 120_000);

  it("SIGTERM mid-bulk: the bulk finishes and is acked, exit 0 within the deadline, nothing lost or processed twice", async () => {
    const queue = await broker.queue(uniqueName("sigterm"));
    const total = 500;
    await broker.publish(
      queue,
      Array.from({ length: total }, (_, id) => ({ id })),
    );
    const worker = spawnWorker({
      QUEUE: queue,
      BULK_SIZE: "25",
      PREFETCH: "50",
      HANDLER_DELAY_MS: "300",
      SHUTDOWN_TIMEOUT_MS: "10000",
    });
    await waitFor(
      () => worker.done.length >= 2 && worker.started.length > worker.done.length,
      30_000,
      "mid-bulk",
    );
    const inFlight = worker.started.at(-1) ?? [];
    const signalledAt = Date.now();
    worker.kill("SIGTERM");
    await worker.waitExit(15_000);
    const exitMs = Date.now() - signalledAt;
    const done = counts(worker.doneIds);
    const left = await broker.count(queue);
    const duplicates = [...done.values()].filter((n) => n > 1).length;
    report("sigterm", {
      published: total,
      processed: done.size,
      leftOnQueue: left,
      duplicates,
      exitMs,
      lost: total - done.size - left,
    });
    expect(worker.exited?.code).toBe(0);
    expect(exitMs).toBeLessThan(10_000);
    for (const id of inFlight) expect(done.has(id)).toBe(true); // the interrupted bulk finished
    expect(duplicates).toBe(0);
    expect(done.size + left).toBe(total); // handled ones acked, the rest still on the queue
    // What is left is exactly what was never handled.
    const remaining = (await broker.drain(queue)) as { id: number }[];
    expect(remaining.filter(({ id }) => done.has(id))).toEqual([]);
  }, 60_000);

  it("a handler that never returns: SIGTERM still exits within shutdownTimeout, messages go back", async () => {
    const queue = await broker.queue(uniqueName("stuck"));
    await broker.publish(
      queue,
      Array.from({ length: 30 }, (_, id) => ({ id })),
    );
    const worker = spawnWorker({
      QUEUE: queue,
      BULK_SIZE: "10",
      HANDLER_DELAY_MS: "-1",
      SHUTDOWN_TIMEOUT_MS: "1000",
    });
    await waitFor(() => worker.started.length === 1, 30_000, "a stuck bulk");
    const signalledAt = Date.now();
    worker.kill("SIGTERM");
    await worker.waitExit(10_000);
    const exitMs = Date.now() - signalledAt;
    report("stuck-handler", { exitMs, code: worker.exited?.code });
    expect(worker.exited?.code).toBe(0);
    expect(exitMs).toBeLessThan(5000);
    await waitFor(async () => (await broker.count(queue)) === 30, 5000, "all 30 back on the queue");
  }, 60_000);
});
