import { afterAll, describe, expect, expectTypeOf, it } from "vitest";
import { ConstantBackoff, type SQSMessage } from "../../src/index.js";
import { createSQSApp, rawClient, SQSQueues, sqsEmulator, sqsQueueName } from "../helpers/sqs.js";

/**
 * alfred's `SQSTask` as `app.task(name, handler, { transport: "sqs" })`: the same handles, status
 * and results as on RabbitMQ (Redis on 6379), runs carried by SQS (the fauxqs emulator).
 */

const emulator = await sqsEmulator();
const queues = new SQSQueues(rawClient(emulator));
afterAll(async () => {
  await queues.cleanup();
  await emulator.stop();
});

describe("tasks on SQS", () => {
  it("delay -> result across two apps, a delayed run, a failure after retries, and no priorities", async () => {
    const name = sqsQueueName("task");
    await queues.create(name);
    const worker = createSQSApp(emulator);
    const producerApp = createSQSApp(emulator);
    const define = (app: typeof worker) => ({
      resize: app.task<{ w: number }>(
        name,
        async ({ w }, message) => {
          expectTypeOf(message).toEqualTypeOf<SQSMessage<{ w: number }>>();
          if (w < 0) throw new Error("negative width");
          return { w, h: w / 2, attempt: message.attempt };
        },
        {
          transport: "sqs",
          waitTime: 1_000,
          retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 1_000, floor: 0 }) },
        },
      ),
    });
    const { resize } = define(worker);
    const producer = define(producerApp).resize;
    try {
      await worker.start();
      const job = await producer.delay({ w: 640 });
      expect(await job.result({ timeout: 15_000 })).toEqual({ w: 640, h: 320, attempt: 1 });
      expect(await job.status()).toMatchObject({ status: "succeeded", task: name, attempt: 1 });

      const sentAt = Date.now();
      const later = await producer.delay({ w: 10 }, { delay: 1_000 });
      expect(await later.result({ timeout: 15_000 })).toMatchObject({ w: 10 });
      expect((await later.status()).startedAt! - sentAt).toBeGreaterThanOrEqual(900);

      const failing = await producer.delay({ w: -1 });
      await expect(failing.result({ timeout: 20_000 })).rejects.toMatchObject({
        code: "WEIR_ERR_TASK_FAILED",
        failure: { message: "negative width" },
      });
      expect(await failing.status()).toMatchObject({ status: "failed", attempt: 2 });

      await expect(producer.delay({ w: 1 }, { priority: 1 })).rejects.toMatchObject({
        code: "WEIR_ERR_TASK_PRIORITY",
      });
      expect(resize.transport).toBe("sqs");
    } finally {
      await producerApp.stop();
      await worker.stop();
      const dlq = await queues.url(`${name}-dlq`);
      if (dlq !== undefined) queues.created.push(dlq);
    }
  }, 60_000);

  it("`declare: true` passes to the task's route: its missing queue is created when the worker starts", async () => {
    const name = sqsQueueName("declaredtask");
    const worker = createSQSApp(emulator);
    const task = worker.task<{ n: number }>(name, async ({ n }) => ({ twice: n * 2 }), {
      transport: "sqs",
      waitTime: 1_000,
      declare: true,
    });
    try {
      await worker.start();
      const url = await queues.url(name);
      expect(url).toBeDefined();
      queues.created.push(url!);
      const job = await task.delay({ n: 21 });
      expect(await job.result({ timeout: 15_000 })).toEqual({ twice: 42 });
    } finally {
      await worker.stop();
    }
  }, 30_000);
});
