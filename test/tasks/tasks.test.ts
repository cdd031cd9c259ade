import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { z } from "zod";
import {
  type AMQPMessage,
  App,
  ConstantBackoff,
  type TaskHandle,
  TaskPayloadError,
} from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { Broker, createApp, silentLogger, uniqueName, waitFor } from "../helpers/amqp.js";

const Email = z.object({ to: z.string().email(), subject: z.string().default("hello") });

const clients: TestClient[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function offlineApp(): App {
  return new App({ logger: silentLogger, amqp: { url: "amqp://127.0.0.1:1" }, shutdownTimeout: 2_000 });
}

describe("app.task (in memory)", () => {
  it("defines the consumer and a typed producer from one schema", async () => {
    const app = offlineApp();
    const sent: Array<{ to: string; subject: string }> = [];
    const sendEmail = app.task(
      "emails.send",
      async (email, message) => {
        expectTypeOf(email).toEqualTypeOf<{ to: string; subject: string }>();
        expectTypeOf(message).toEqualTypeOf<AMQPMessage<{ to: string; subject: string }>>();
        sent.push(email);
      },
      { schema: Email },
    );
    expectTypeOf(sendEmail.delay).parameter(0).toEqualTypeOf<{ to: string; subject?: string | undefined }>();
    const client = createTestClient(app);
    clients.push(client);
    await client.start();
    await sendEmail.delay({ to: "ada@example.com" }, { headers: { tenant: "t1" } });
    await client.amqp.idle();
    expect(sent).toEqual([{ to: "ada@example.com", subject: "hello" }]);
    expect(client.amqp.published[0]).toMatchObject({ routingKey: "emails.send", headers: { tenant: "t1" } });
    expect(client.amqp.settled.map((result) => result.outcome)).toEqual(["ack"]);
    // @ts-expect-error: the payload type comes from the schema
    await expect(sendEmail.delay({ recipient: "nobody" })).rejects.toBeInstanceOf(TaskPayloadError);
  });

  it("refuses an invalid payload before publishing, with WEIR_ERR_TASK_PAYLOAD and the issues", async () => {
    const app = offlineApp();
    const sendEmail = app.task("emails.strict", async () => {}, { schema: Email });
    const client = createTestClient(app);
    clients.push(client);
    await client.start();
    const error = await sendEmail.delay({ to: "not an address" }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "WEIR_ERR_TASK_PAYLOAD", issues: [{ path: "to" }] });
    expect(client.amqp.published).toEqual([]);
  });

  it("takes its payload type from a type parameter when there is no schema", async () => {
    const app = offlineApp();
    const totals: number[] = [];
    const add = app.task<{ a: number; b: number }>("math.add", async ({ a, b }) => {
      totals.push(a + b);
    });
    const client = createTestClient(app);
    clients.push(client);
    const [result] = await client.amqp.deliver("math.add", [{ a: 2, b: 3 }]);
    expect(result!.outcome).toBe("ack");
    await add.delay({ a: 1, b: 1 });
    await client.amqp.idle();
    expect(totals).toEqual([5, 2]);
    expect(add.name).toBe("math.add");
  });

  it("sends a run without a payload (schedule(cron) without one, delay(undefined)) as null", async () => {
    const app = offlineApp();
    const payloads: unknown[] = [];
    const ping = app.task("tasks.ping", async (payload: unknown) => {
      payloads.push(payload);
    });
    const client = createTestClient(app);
    clients.push(client);
    await client.start();
    // JSON has no undefined: before, the publish threw a TypeError from Buffer.from, on every tick.
    await ping.delay(undefined);
    await client.amqp.idle();
    expect(payloads).toEqual([null]);
    expect(client.amqp.settled.map((result) => result.outcome)).toEqual(["ack"]);
  });

  it("gives each delay() a messageId of its own unless one is given (issue #17)", async () => {
    const app = offlineApp();
    const ids: unknown[] = [];
    const job = app.task<{ n: number }>(
      "jobs.ids",
      async (_payload, message) => {
        ids.push(message.properties.messageId);
      },
      { once: { ttl: 60_000 } },
    );
    const client = createTestClient(app);
    clients.push(client);
    await client.start();
    // The same payload twice is two runs: each call has its own id (once keys on it).
    await job.delay({ n: 1 });
    await job.delay({ n: 1 });
    // Given twice, one id is one run.
    await job.delay({ n: 2 }, { messageId: "job-2" });
    await job.delay({ n: 2 }, { messageId: "job-2" });
    await client.amqp.idle();
    expect(ids).toHaveLength(3);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(ids[2]).toBe("job-2");
  });

  it("delays a task on the broker, in a TTL queue that dead-letters into the task queue", async () => {
    vi.useFakeTimers();
    const app = offlineApp();
    const ran: number[] = [];
    const remind = app.task<{ id: number }>("reminders", async ({ id }) => {
      ran.push(id);
    });
    const client = createTestClient(app);
    clients.push(client);
    await client.start();
    await remind.delay({ id: 1 }, { delay: 5_000 });
    expect(client.amqp.messages("reminders.retry.5000")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(ran).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await client.amqp.idle();
    expect(ran).toEqual([1]);
  });

  it("passes retry through to its route", async () => {
    const app = offlineApp();
    app.task(
      "flaky",
      async () => {
        throw new Error("not yet");
      },
      { retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 2_000, floor: 0 }) } },
    );
    const client = createTestClient(app);
    clients.push(client);
    const [result] = await client.amqp.deliver("flaky", [{}]);
    expect(result).toMatchObject({ outcome: "retry", forwardedTo: { queue: "flaky.retry.2000" } });
  });

  it("slow handler: a task's timeout aborts its signal and counts the run as failed (issue #15)", async () => {
    const app = offlineApp();
    const reasons: unknown[] = [];
    app.task(
      "reports.build",
      async (_payload, _message, { signal }) => {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
        reasons.push(signal.reason);
      },
      { timeout: 100 },
    );
    const client = createTestClient(app);
    clients.push(client);
    const [result] = await client.amqp.deliver("reports.build", [{ month: 11 }]);
    // Without retry a failed run is final: rejected, never requeued into a loop.
    expect(result!.outcome).toBe("reject");
    expect(reasons).toEqual([expect.objectContaining({ code: "WEIR_ERR_HANDLER_TIMEOUT" })]);
  });

  it("refuses misuse where the task is defined", async () => {
    const app = offlineApp();
    app.task("once-only", async () => {});
    expect(() => app.task("once-only", async () => {})).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_DUPLICATE_TASK" }),
    );
    expect(() => app.task("", async () => {})).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
    // @ts-expect-error: not a function
    expect(() => app.task("no-handler", 42)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_HANDLER_NOT_FUNCTION" }),
    );
    expect(() =>
      // @ts-expect-error: a misspelled option
      app.task("typo", async () => {}, { concurency: 2 }),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }));
    const task = app.task("delays", async () => {});
    await expect(task.delay({}, { delay: -1 })).rejects.toMatchObject({ code: "WEIR_ERR_INVALID_OPTION" });
  });
});

describe("app.task (RabbitMQ)", () => {
  it("tells a producer whose task queue no worker declared yet to start one, delayed or not", async () => {
    const producerApp = createApp();
    const producer = producerApp.task<{ id: number }>(uniqueName("task-undeclared"), async () => {});
    try {
      for (const options of [{}, { delay: 400 }]) {
        const error = await producer.delay({ id: 1 }, options).catch((caught: unknown) => caught);
        expect(error).toMatchObject({
          code: "WEIR_ERR_PUBLISH_UNROUTABLE",
          sent: false,
          routingKey: producer.name,
        });
        expect((error as Error).message).toContain(`task "${producer.name}": its queue does not exist`);
        expect((error as Error).message).toContain("start one before delaying runs");
      }
    } finally {
      await producerApp.stop();
    }
  });

  it("enqueues from a producer app and runs on a worker app, with a delay on the broker", async () => {
    const queue = uniqueName("task");
    const broker = await Broker.connect();
    const worker = createApp();
    const producerApp = createApp();
    const runs: Array<{ id: number; at: number }> = [];
    worker.task<{ id: number }>(queue, async ({ id }) => {
      runs.push({ id, at: Date.now() });
    });
    // The producer defines the same task (in real code: the same module) and never starts.
    const producer = producerApp.task<{ id: number }>(queue, async () => {});
    try {
      await worker.start();
      const sentAt = Date.now();
      await producer.delay({ id: 1 });
      await producer.delay({ id: 2 }, { delay: 400 });
      await waitFor(() => runs.length === 2, 10_000, "both tasks to run");
      expect(runs.map((run) => run.id)).toEqual([1, 2]);
      expect(runs[1]!.at - sentAt).toBeGreaterThanOrEqual(380);
    } finally {
      await producerApp.stop();
      await worker.stop();
      await broker.deleteQueue(`${queue}.retry.400`).catch(() => {});
      await broker.deleteQueue(queue).catch(() => {});
      await broker.close();
    }
  });
});

describe("task handles under weir/testing (no Redis)", () => {
  it("runs tasks and reports status and results from memory; weir_tasks_total counts statuses", async () => {
    const app = new App({
      logger: silentLogger,
      amqp: { url: "amqp://127.0.0.1:1" },
      redis: { url: "redis://127.0.0.1:1" },
      observability: { metrics: true },
    });
    const add = app.task<{ a: number; b: number }>("math.sum", async ({ a, b }) => a + b);
    const broken = app.task(
      "math.broken",
      async () => {
        throw new Error("division by zero");
      },
      { retry: { maxAttempts: 1 } },
    );
    const ping = app.task("math.ping", async (payload) => ({ pong: payload }));
    const double = app.task("math.double", async (n: number) => ({ twice: n * 2 }));
    const client = createTestClient(app);
    clients.push(client);
    await client.start();
    const job = await add.delay({ a: 2, b: 3 });
    expect(await job.result({ timeout: 2_000 })).toBe(5);
    // A task without a payload type is delayed without one (sent as null); its result type is the
    // handler's, when the payload type comes from the handler's parameter, not a type argument.
    expect(await (await ping.delay()).result({ timeout: 2_000 })).toEqual({ pong: null });
    expectTypeOf(double.delay).returns.resolves.toEqualTypeOf<TaskHandle<{ twice: number }>>();
    expect(await (await double.delay(4)).result()).toEqual({ twice: 8 });
    // A task with a payload type needs its payload (checked by the compiler only, never called).
    // @ts-expect-error: the payload is missing
    const missing = () => add.delay();
    expect(typeof missing).toBe("function");
    expect(await job.status()).toMatchObject({ status: "succeeded", attempt: 1, task: "math.sum" });
    const failed = await broken.delay({});
    await expect(failed.result({ timeout: 2_000 })).rejects.toMatchObject({
      code: "WEIR_ERR_TASK_FAILED",
      failure: { message: "division by zero" },
    });
    const metrics = await app.metrics!.getSingleMetricAsString("weir_tasks_total");
    expect(metrics).toContain('weir_tasks_total{task="math.sum",status="submitted"} 1');
    expect(metrics).toContain('weir_tasks_total{task="math.sum",status="succeeded"} 1');
    expect(metrics).toContain('weir_tasks_total{task="math.broken",status="failed"} 1');
    // A revoked run is skipped by the worker: nothing runs, the handle reports it.
    const pending = await add.delay({ a: 1, b: 1 }, { delay: 60_000 });
    expect(await pending.revoke()).toBe("submitted");
    await expect(pending.result()).rejects.toMatchObject({ code: "WEIR_ERR_TASK_REVOKED" });
  });

  it("refuses a transport that cannot carry tasks, and a priority where there is none", async () => {
    const app = offlineApp();
    expect(() =>
      // @ts-expect-error: sse carries no tasks
      app.task("feeds", async () => {}, { transport: "sse" }),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_TASK_TRANSPORT" }));
    expect(() =>
      // @ts-expect-error: no such transport
      app.task("nowhere", async () => {}, { transport: "kafka" }),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_TASK_TRANSPORT" }));
    expect(() => app.task("bad-prio", async () => {}, { maxPriority: 300 })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "maxPriority" }),
    );
    expect(() => app.task("bad-ttl", async () => {}, { results: { ttl: 5 } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "results.ttl" }),
    );
  });
});
