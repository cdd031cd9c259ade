import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/index.js";
import { runCli } from "../cli/helpers.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { REDIS_URL } from "../helpers/redis.js";
import { buildTaskApp } from "./fixtures/task-app.js";

/**
 * Task handles against the real RabbitMQ and Redis: results, failures, revocation, time limits,
 * callbacks, priorities. The worker and the producer are two apps (two connections each), as two
 * processes would be; test/tasks/workers.test.ts runs them as processes.
 */

const prefix = uniqueName("tasks");
let worker: ReturnType<typeof buildTaskApp>;
let producer: ReturnType<typeof buildTaskApp>;
let broker: Broker;
let redis: Redis;
const extraApps: App[] = [];

beforeAll(async () => {
  broker = await Broker.connect();
  redis = new Redis(REDIS_URL, { protocol: 2, maxRetriesPerRequest: 1 });
  worker = buildTaskApp(prefix, "task-worker");
  producer = buildTaskApp(prefix, "task-producer");
  await worker.app.start();
});

afterAll(async () => {
  await producer.app.stop();
  await worker.app.stop();
  for (const app of extraApps) await app.stop();
  for (const task of [
    "square",
    "double",
    "fail",
    "waits",
    "limited",
    "prio",
    "plain",
    "big",
    "idle",
    "no-retry",
  ]) {
    for (const suffix of ["", ".retry.100", ".dlq"])
      await broker.deleteQueue(`${prefix}.${task}${suffix}`).catch(() => {});
  }
  await broker.close();
  await redis.quit();
});

describe("task handles (RabbitMQ + Redis)", () => {
  it("result() resolves with the handler's return value; status() tells the run's life", async () => {
    const job = await producer.square.delay({ n: 7 });
    expect(await job.result({ timeout: 10_000 })).toEqual({ n: 7, square: 49 });
    const record = await job.status();
    expect(record).toMatchObject({ id: job.id, task: `${prefix}.square`, status: "succeeded", attempt: 1 });
    expect(record.submittedAt!).toBeLessThanOrEqual(record.startedAt!);
    expect(record.startedAt!).toBeLessThanOrEqual(record.finishedAt!);
    // Another process rebuilds the handle from the id alone.
    expect(await worker.square.get(job.id).result()).toEqual({ n: 7, square: 49 });
    // The record expires after results.ttl (default one day).
    const ttl = await redis.pttl(`weir:task:${job.id}`);
    expect(ttl).toBeGreaterThan(86_000_000);
    expect(ttl).toBeLessThanOrEqual(86_400_000);
  });

  it("a failing run's result() rejects with its failure once its retries are spent; the message is dead-lettered", async () => {
    const job = await producer.fail.delay({ why: "no paper" });
    const error = await job.result({ timeout: 15_000 }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: "WEIR_ERR_TASK_FAILED",
      taskId: job.id,
      failure: { name: "Error", message: "no paper" },
    });
    expect(await job.status()).toMatchObject({ status: "failed", attempt: 2 });
    await waitFor(async () => (await broker.count(`${prefix}.fail.dlq`)) === 1, 5_000, "the dead letter");
  });

  it("a run revoked before it starts never runs: acked, status revoked, attempt 0", async () => {
    const job = await producer.waits.delay({ ms: 10 }, { delay: 1_000 });
    expect(await job.revoke()).toBe("submitted");
    await expect(job.result({ timeout: 1_000 })).rejects.toMatchObject({ code: "WEIR_ERR_TASK_REVOKED" });
    // The delay passes, the worker takes the message and skips it.
    await sleep(1_500);
    await waitFor(
      async () => (await broker.count(`${prefix}.waits`)) === 0,
      5_000,
      "the revoked run to be acked",
    );
    expect(await job.status()).toMatchObject({ status: "revoked", attempt: 0 });
  });

  it("a run revoked while running has its signal aborted and ends revoked, not retried", async () => {
    const job = await producer.waits.delay({ ms: 20_000 });
    await waitFor(async () => (await job.status()).status === "running", 5_000, "the run to start");
    const revokedAt = Date.now();
    expect(await job.revoke()).toBe("running");
    await expect(job.result({ timeout: 5_000 })).rejects.toMatchObject({ code: "WEIR_ERR_TASK_REVOKED" });
    await sleep(500);
    const record = await job.status();
    expect(record).toMatchObject({ status: "revoked", attempt: 1 });
    expect(record.finishedAt!).toBeGreaterThanOrEqual(revokedAt - 5);
    expect(await broker.count(`${prefix}.waits`)).toBe(0);
    expect(await broker.count(`${prefix}.waits.dlq`)).toBe(0);
  });

  it("a run over its timeout fails with the handler timeout as its failure", async () => {
    const job = await producer.limited.delay({ ms: 3_000 });
    await expect(job.result({ timeout: 10_000 })).rejects.toMatchObject({
      code: "WEIR_ERR_TASK_FAILED",
      failure: { code: "WEIR_ERR_HANDLER_TIMEOUT" },
    });
  });

  it("result({ timeout }) gives up with its own code while the run goes on", async () => {
    const job = await producer.waits.delay({ ms: 1_500 });
    await expect(job.result({ timeout: 200 })).rejects.toMatchObject({
      code: "WEIR_ERR_TASK_RESULT_TIMEOUT",
    });
    expect(await job.result({ timeout: 10_000 })).toBe("waited");
  });

  it("then: the callback is enqueued with the result; both records show the chain", async () => {
    // biome-ignore lint/suspicious/noThenProperty: the issue's name; its value is a task, never a function, so not a thenable.
    const first = await producer.double.delay(21, { then: producer.square });
    const { next } = await first.status();
    expect(next).toEqual({ task: `${prefix}.square`, id: expect.any(String) });
    // The callback's handle waits for it from the start (its record exists before it is sent).
    const second = producer.square.get(next!.id);
    expect(await second.result({ timeout: 10_000 })).toEqual({ n: 42, square: 1_764 });
    expect(await second.status()).toMatchObject({ previous: { task: `${prefix}.double`, id: first.id } });
    expect(await first.result()).toEqual({ n: 42 });
  });

  it("then: the callback of a run that fails for good is marked failed, never sent", async () => {
    // biome-ignore lint/suspicious/noThenProperty: the issue's name; its value is a task, not a thenable.
    const first = await producer.fail.delay({ why: "broken" }, { then: producer.square as never });
    const { next } = await first.status();
    await expect(producer.square.get(next!.id).result({ timeout: 15_000 })).rejects.toMatchObject({
      code: "WEIR_ERR_TASK_FAILED",
      failure: { name: "TaskCallbackAbandoned" },
    });
  });

  it("results: false keeps nothing in Redis, and its handle says so", async () => {
    const app = createApp({ name: "tasks-plain" });
    extraApps.push(app);
    const ran: number[] = [];
    const plain = app.task<number>(`${prefix}.plain`, async (n) => void ran.push(n), { results: false });
    await app.start();
    const job = await plain.delay(5);
    await waitFor(() => ran.length === 1, 5_000, "the run");
    expect(await redis.exists(`weir:task:${job.id}`)).toBe(0);
    await expect(job.status()).rejects.toMatchObject({ code: "WEIR_ERR_TASK_NO_RESULTS" });
    await expect(job.result()).rejects.toMatchObject({ code: "WEIR_ERR_TASK_NO_RESULTS" });
  });

  it("a result too big or not JSON fails the run with WEIR_ERR_TASK_RESULT, not retried", async () => {
    const app = createApp({ name: "tasks-big" });
    extraApps.push(app);
    let runs = 0;
    const big = app.task<string>(
      `${prefix}.big`,
      async (kind) => {
        runs++;
        return kind === "big" ? "x".repeat(2_000) : { n: 1n };
      },
      { results: { maxBytes: 1_000 }, retry: { maxAttempts: 3 } },
    );
    await app.start();
    for (const kind of ["big", "bigint"]) {
      const job = await big.delay(kind);
      await expect(job.result({ timeout: 5_000 })).rejects.toMatchObject({
        code: "WEIR_ERR_TASK_FAILED",
        failure: { code: "WEIR_ERR_TASK_RESULT" },
      });
    }
    await sleep(300);
    expect(runs).toBe(2);
  });

  it("priorities: higher-priority runs overtake a backlog (x-max-priority declared by the task)", async () => {
    const app = createApp({ name: "tasks-prio" });
    extraApps.push(app);
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const prio = app.task<string>(
      `${prefix}.prio`,
      async (label) => {
        if (label === "gate") await gate;
        order.push(label);
      },
      { maxPriority: 10, prefetch: 1, results: false },
    );
    await app.start();
    await prio.delay("gate");
    await waitFor(
      async () => (await broker.count(`${prefix}.prio`)) === 0,
      5_000,
      "the gate run to be taken",
    );
    for (let i = 0; i < 10; i++) await prio.delay(`low-${i}`);
    for (let i = 0; i < 5; i++) await prio.delay(`high-${i}`, { priority: 9 });
    release();
    await waitFor(() => order.length === 16, 10_000, "all runs");
    expect(order.slice(1, 6).sort()).toEqual(["high-0", "high-1", "high-2", "high-3", "high-4"]);
    expect(order.slice(6)).toEqual(Array.from({ length: 10 }, (_, i) => `low-${i}`));
    await expect(prio.delay("x", { priority: 11 })).rejects.toMatchObject({ code: "WEIR_ERR_TASK_PRIORITY" });
  });

  it("refuses a priority on a task without maxPriority, before anything is sent", async () => {
    await expect(producer.square.delay({ n: 1 }, { priority: 1 })).rejects.toMatchObject({
      code: "WEIR_ERR_TASK_PRIORITY",
    });
  });

  it("weir tasks status / revoke read and revoke a run from its id alone", async () => {
    const done = await producer.square.delay({ n: 3 });
    await done.result({ timeout: 10_000 });
    const status = await runCli(["tasks", "status", done.id, "--json"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      id: done.id,
      status: "succeeded",
      result: { n: 3, square: 9 },
    });
    const human = await runCli(["tasks", "status", done.id]);
    expect(human.stdout).toMatch(/^status: {4}succeeded$/m);

    const later = await producer.square.delay({ n: 4 }, { delay: 2_000 });
    const revoked = await runCli(["tasks", "revoke", later.id]);
    expect(revoked).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(/revoked task run .*: no worker will run it/),
    });
    await expect(later.result({ timeout: 1_000 })).rejects.toMatchObject({ code: "WEIR_ERR_TASK_REVOKED" });
    expect((await runCli(["tasks", "revoke", done.id])).code).toBe(1);
    const unknown = await runCli(["tasks", "status", "no-such-run"]);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringMatching(/WEIR_ERR_TASK_UNKNOWN/) });
    expect(await runCli(["tasks", "revoke", "no-such-run"])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/no record of task run no-such-run: nothing revoked/),
    });
    expect(await redis.exists("weir:task:no-such-run")).toBe(0);
    expect((await runCli(["tasks", "stop", "x"])).code).toBe(2);
  });

  it("app.lock: a second app cannot take a held lock until the holder releases it", async () => {
    const name = `${prefix}.lock`;
    const holder = worker.app.lock(name, { ttl: 10_000 });
    const other = producer.app.lock(name, { ttl: 10_000, wait: 200 });
    const handle = await holder.acquire();
    expect(await other.tryAcquire()).toBeUndefined();
    await expect(other.acquire()).rejects.toMatchObject({ code: "WEIR_ERR_LOCK_TIMEOUT" });
    await handle.release();
    const taken = await other.acquire();
    expect(taken.token).not.toBe(handle.token);
    await taken.release();
  });

  it("a result published while the handle's subscription was down is still seen after the reconnect", async () => {
    const app = createApp({ name: `tasks-resubscribe-${prefix.slice(-8)}` });
    extraApps.push(app);
    // A run the test records itself (no worker): the handle waits for it like any other.
    const idle = app.task<number>(`${prefix}.idle`, async (n) => n);
    const job = idle.get(`${prefix}.run-1`);
    await recordSubmitted(job.id, idle.name);
    const waiting = job.result({ timeout: 10_000 });
    await sleep(200);
    const clients = String(await redis.call("CLIENT", "LIST", "TYPE", "pubsub"));
    const line = clients
      .split("\n")
      .find((entry) => entry.includes(`name=weir:tasks-resubscribe-${prefix.slice(-8)}:tasks-subscriber`));
    expect(line).toBeDefined();
    await redis.call("CLIENT", "KILL", "ID", /id=(\d+)/.exec(line!)![1]!);
    // ioredis reconnects after 100 ms: this change and its announcement happen before it.
    await redis.hset(
      `weir:task:${job.id}`,
      "status",
      "succeeded",
      "result",
      "41",
      "finishedAt",
      String(Date.now()),
    );
    await redis.publish(`weir:task:${job.id}`, "succeeded");
    expect(await waiting).toBe(41);
  });

  it("without retry, a failing run is failed after one attempt, never requeued into a loop", async () => {
    const app = createApp({ name: "tasks-no-retry" });
    extraApps.push(app);
    let calls = 0;
    const once = app.task(`${prefix}.no-retry`, async () => {
      calls++;
      throw new Error("bad input");
    });
    await app.start();
    const job = await once.delay({});
    await expect(job.result({ timeout: 5_000 })).rejects.toMatchObject({ code: "WEIR_ERR_TASK_FAILED" });
    await sleep(500);
    expect(calls).toBe(1);
    expect(await job.status()).toMatchObject({ status: "failed", attempt: 1 });
    expect(await broker.count(`${prefix}.no-retry`)).toBe(0);
  });

  it("a result() still waiting when its app stops rejects with WEIR_ERR_TASK_STORE; an unreachable store is named", async () => {
    const app = createApp({ name: "tasks-stopping" });
    const waits = app.task<number>(`${prefix}.idle`, async (n) => n);
    const job = waits.get(`${prefix}.never-ends`);
    await recordSubmitted(job.id, waits.name);
    const waiting = job.result().catch((error: unknown) => error);
    await sleep(200);
    await app.stop();
    expect(await waiting).toMatchObject({
      code: "WEIR_ERR_TASK_STORE",
      message: expect.stringMatching(/closed/),
    });

    const away = createApp({ name: "tasks-away", redis: { url: "redis://127.0.0.1:1" } });
    extraApps.push(away);
    const lost = away.task(`${prefix}.idle-away`, async () => {});
    await expect(lost.delay({})).rejects.toMatchObject({
      code: "WEIR_ERR_TASK_STORE",
      message: expect.stringMatching(
        /task store on redis:\/\/127\.0\.0\.1:1: record a submitted task failed/,
      ),
    });
  });
});

/** Records a run as submitted, as `delay()` would, without sending it: no worker will take it. */
async function recordSubmitted(id: string, task: string): Promise<void> {
  await redis.hset(`weir:task:${id}`, "id", id, "task", task, "status", "submitted", "attempt", "0");
  await redis.pexpire(`weir:task:${id}`, 60_000);
}
