import { randomUUID } from "node:crypto";
import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { type App, InvalidOptionError, RouteTypes, SQSPublishError } from "../../src/index.js";
import { createSQSApp, sqsQueueName, sqsTestBed } from "../helpers/sqs.js";
import { until } from "../transports/delivery-behaviour.js";

/**
 * SQS queue names (issue #20, a new user's review): AWS SQS takes 1 to 80 letters, digits, `-` and
 * `_`, `.fifo` ending a FIFO queue's name (CreateQueue, "QueueName"). fauxqs takes any name, so
 * without weir's own check `rm.v2_x` started here and failed only on AWS. And a publish to a queue
 * that does not exist says so, and why `declare` did not make it.
 */

const { emulator, queues } = await sqsTestBed();
let app: App | undefined;

/** A unique queue name of exactly `length` characters, `.fifo` included when `fifo`. */
function nameOfLength(length: number, fifo = false): string {
  const base = `weir-test-len-${randomUUID().slice(0, 8)}-`;
  const body = length - (fifo ? ".fifo".length : 0);
  return `${base.padEnd(body, "x").slice(0, body)}${fifo ? ".fifo" : ""}`;
}

/** A queue weir created: deleted after the test. */
async function adopt(name: string): Promise<void> {
  const url = await queues.url(name);
  if (url !== undefined) queues.created.push(url);
}

/** What `act` threw (it must throw). */
function thrown(act: () => unknown): InvalidOptionError {
  try {
    act();
  } catch (error) {
    return error as InvalidOptionError;
  }
  throw new Error("expected a throw");
}

const RULE = /1 to 80 characters.*letters, digits, "-" and "_".*"\.fifo".*CreateQueue.*QueueName/s;

describe("SQS queue names are checked at app.route (AWS SQS's rule; fauxqs takes any name)", () => {
  it('refuses a name with a dot ("rm.v2_x"), naming it, the rule and its source, and suggesting "_"', async () => {
    const queue = `weir-test-rm.v2_x-${randomUUID().slice(0, 8)}`;
    app = createSQSApp(emulator);
    const error = thrown(() =>
      app!.route([queue], { type: RouteTypes.SQS, declare: true, waitTime: 0 }, async () => {}),
    );
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "queue" });
    expect(error.message).toContain(`"${queue}"`);
    expect(error.message).toMatch(RULE);
    expect(error.message).toContain(`"${queue.replace(".", "_")}"`); // the suggested fix
    expect(await queues.url(queue)).toBeUndefined();
  });

  it('refuses a name with a space and a "!" ("rm bad!")', () => {
    app = createSQSApp(emulator);
    const error = thrown(() => app!.route(["rm bad!"], { type: RouteTypes.SQS }, async () => {}));
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "queue" });
    expect(error.message).toContain('"rm bad!"');
    expect(error.message).toMatch(RULE);
    expect(error.message).toContain('"rm_bad_"');
  });

  it("refuses a name of 81 characters, saying how long it is", () => {
    const queue = nameOfLength(81);
    app = createSQSApp(emulator);
    const error = thrown(() => app!.route([queue], { type: RouteTypes.SQS }, async () => {}));
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "queue" });
    expect(error.message).toContain(`"${queue}"`);
    expect(error.message).toContain("81 characters");
    expect(error.message).toMatch(RULE);
  });

  it("refuses a name whose weir dead-letter queue (<queue>-dlq, <base>-dlq.fifo) would be 81 characters, and says how to make room", () => {
    app = createSQSApp(emulator);
    const standard = nameOfLength(77);
    const error = thrown(() =>
      app!.route([standard], { type: RouteTypes.SQS, retry: { maxAttempts: 2 } }, async () => {}),
    );
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "queue" });
    expect(error.message).toContain(`"${standard}-dlq"`);
    expect(error.message).toContain("81 characters");
    expect(error.message).toMatch(/deadLetter: \{ queue \}/);
    expect(error.message).toMatch(/deadLetter: false/);

    const fifo = nameOfLength(77, true);
    const fifoError = thrown(() =>
      app!.route([fifo], { type: RouteTypes.SQS, deadLetter: true }, async () => {}),
    );
    expect(fifoError).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "queue" });
    expect(fifoError.message).toContain(`"${fifo.slice(0, -".fifo".length)}-dlq.fifo"`);

    // The same names are fine without weir's DLQ, or with one named that fits.
    app.route([standard], { type: RouteTypes.SQS }, async () => {});
    app.route([fifo], { type: RouteTypes.SQS, deadLetter: { queue: "short-dlq.fifo" } }, async () => {});
  });

  it("refuses a deadLetter.queue name SQS would refuse; a URL is taken as it is", () => {
    app = createSQSApp(emulator);
    const error = thrown(() =>
      app!.route(
        [sqsQueueName("dl")],
        { type: RouteTypes.SQS, deadLetter: { queue: "orders.dlq" } },
        async () => {},
      ),
    );
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "deadLetter.queue" });
    expect(error.message).toContain('"orders.dlq"');
    expect(error.message).toContain('"orders_dlq"');
    expect(error.message).toMatch(RULE);
    app.route(
      [`${emulator.endpoint}/000000000000/some.queue`],
      { type: RouteTypes.SQS, deadLetter: { queue: `${emulator.endpoint}/000000000000/some.dlq` } },
      async () => {},
    );
  });

  it("refuses an SQS task whose name is no SQS queue name (the task's queue is named like it)", () => {
    app = createSQSApp(emulator);
    const error = thrown(() => app!.task("images.resize", async () => {}, { transport: "sqs" }));
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "task name" });
    expect(error.message).toContain('"images.resize"');
    expect(error.message).toContain('"images_resize"');
    expect(error.message).toMatch(RULE);
    const long = nameOfLength(77);
    const dlq = thrown(() =>
      app!.task(long, async () => {}, { transport: "sqs", retry: { maxAttempts: 2 } }),
    );
    expect(dlq).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "task name" });
    expect(dlq.message).toContain(`"${long}-dlq"`);
  });

  it("refuses app.sqs.publish to a queue name SQS would refuse, before sending", async () => {
    app = createSQSApp(emulator);
    const failed = await app.sqs.publish({ n: 1 }, { queue: "rm.v2_x" }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(InvalidOptionError);
    expect(failed).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "queue" });
    expect((failed as Error).message).toMatch(RULE);
  });

  it("takes a FIFO name of exactly 80 characters without a weir DLQ, and a standard one of 76 whose DLQ is 80: both start, are created and consumed", async () => {
    const fifo = nameOfLength(80, true);
    const standard = nameOfLength(76);
    expect([fifo.length, standard.length]).toEqual([80, 76]);
    app = createSQSApp(emulator);
    const seen: unknown[] = [];
    app.route([fifo], { type: RouteTypes.SQS, declare: true, waitTime: 1_000 }, async (messages) => {
      seen.push(...messages.map((m) => m.body));
    });
    app.route(
      [standard],
      { type: RouteTypes.SQS, declare: true, waitTime: 1_000, deadLetter: true },
      async (messages) => {
        for (const m of messages) m.deadLetter();
      },
    );
    await app.start();
    await adopt(fifo);
    await adopt(standard);
    await app.sqs.publish({ n: 1 }, { queue: fifo, messageGroupId: "g" });
    await app.sqs.publish({ n: 2 }, { queue: standard });
    await until(async () => seen.length === 1, "the FIFO message handled");
    expect(seen).toEqual([{ n: 1 }]);
    const dlq = `${standard}-dlq`;
    expect(dlq.length).toBe(80);
    await until(async () => (await queues.url(dlq)) !== undefined, "the 80-character DLQ created");
    await adopt(dlq);
    await until(async () => (await queues.peek(dlq)).length === 1, "the dead letter in it");
    expect(await queues.peek(dlq)).toEqual([{ n: 2 }]);
  });
});

describe("app.sqs.publish to a queue that does not exist", () => {
  it("fails with SQSPublishError (WEIR_ERR_SQS_PUBLISH, queueMissing) saying the queue does not exist and that declare creates it only at start", async () => {
    const queue = sqsQueueName("missing");
    app = createSQSApp(emulator);
    // A route with declare: true, not started yet: its queue does not exist.
    app.route([queue], { type: RouteTypes.SQS, declare: true, waitTime: 0 }, async () => {});
    const failed = await app.sqs.publish({ n: 1 }, { queue }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(SQSPublishError);
    expect(failed).toMatchObject({ code: "WEIR_ERR_SQS_PUBLISH", queue, queueMissing: true });
    const message = (failed as Error).message;
    expect(message).toContain(`the SQS queue "${queue}" does not exist`);
    expect(message).toContain("declare: true");
    expect(message).toMatch(/only when the app .* starts/);
    expect(message).toContain("start()");
    expect(await queues.url(queue)).toBeUndefined();

    // Once the app has started, declare has created it and the same publish goes through.
    await app.start();
    await adopt(queue);
    await expect(app.sqs.publish({ n: 1 }, { queue })).resolves.toEqual(expect.any(String));
  });

  it("says the same for a queue URL that names no queue", async () => {
    const url = `${emulator.endpoint}/000000000000/${sqsQueueName("missingurl")}`;
    app = createSQSApp(emulator);
    const failed = await app.sqs.publish({ n: 1 }, { queue: url }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(SQSPublishError);
    expect(failed).toMatchObject({ code: "WEIR_ERR_SQS_PUBLISH", queue: url, queueMissing: true });
    expect((failed as Error).message).toContain("does not exist");
  });

  it("keeps other failures as they were: SQS out of reach is queueMissing false", async () => {
    // A port nothing listens on: every request is refused.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const queue = sqsQueueName("unreachable");
    app = createSQSApp(emulator, { sqs: { endpoint: `http://127.0.0.1:${port}` } });
    const failed = await app.sqs.publish({ n: 1 }, { queue }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(SQSPublishError);
    expect(failed).toMatchObject({ code: "WEIR_ERR_SQS_PUBLISH", queue, queueMissing: false });
    expect((failed as Error).message).not.toContain("does not exist");
  });
});
