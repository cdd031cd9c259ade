import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { appTransports } from "../../src/core/application.js";
import {
  App,
  RouteTypes,
  type SQSMessage,
  SQSQueueNotFoundError,
  toAsyncAPI,
  WeirError,
} from "../../src/index.js";
import { silentLogger } from "../helpers/amqp.js";
import { captureLogs, linesMatching, WARN } from "../helpers/logs.js";
import { createSQSApp, sqsQueueName, sqsTestBed, TEST_CREDENTIALS } from "../helpers/sqs.js";
import { until } from "../transports/delivery-behaviour.js";

const { emulator, queues } = await sqsTestBed();
let app: App | undefined;

describe("SQS routes against an SQS emulator (fauxqs on 127.0.0.1)", () => {
  it("extends the visibility of a message whose handler outlives the queue's visibility timeout: received once", async () => {
    const queue = sqsQueueName("long");
    await queues.create(queue, { VisibilityTimeout: "2" });
    await queues.publish(queue, [{ n: 1 }]);
    app = createSQSApp(emulator);
    const calls: number[] = [];
    app.route([queue], { type: RouteTypes.SQS, waitTime: 1_000 }, async (messages) => {
      calls.push(...messages.map((m) => m.receiveCount));
      await new Promise((resolve) => setTimeout(resolve, 5_000)); // 2.5 visibility timeouts
    });
    await app.start();
    await until(() => calls.length === 1, "the first call");
    await until(async () => (await queues.backlog(queue)) === 0, "the message deleted", 15_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // a lapsed visibility would show now
    expect(calls).toEqual([1]);
    const extensions = app.health().transports.find((t) => t.transport === "sqs")
      ?.routes[0]?.visibilityExtensions;
    expect(extensions).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it("keeps MessageGroupId order on a FIFO queue with concurrency 3", async () => {
    const queue = sqsQueueName("order", true);
    await queues.create(queue);
    for (let i = 0; i < 6; i++) {
      await queues.publish(queue, [{ g: "a", n: i }], "a");
      await queues.publish(queue, [{ g: "b", n: i }], "b");
    }
    app = createSQSApp(emulator);
    const seen: Record<string, number[]> = { a: [], b: [] };
    let running = 0;
    let overlap = 0;
    app.route(
      [queue],
      { type: RouteTypes.SQS, waitTime: 1_000, options: { concurrency: 3 } },
      async (messages: SQSMessage<{ g: string; n: number }>[]) => {
        running++;
        overlap = Math.max(overlap, running);
        // Later messages finish sooner: without the group order they would overtake.
        await new Promise((resolve) => setTimeout(resolve, 60 - (messages[0]?.body.n ?? 0) * 10));
        for (const m of messages) seen[m.body.g]?.push(m.body.n);
        running--;
      },
    );
    await app.start();
    await until(() => (seen.a?.length ?? 0) + (seen.b?.length ?? 0) === 12, "12 messages");
    expect(seen.a).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seen.b).toEqual([0, 1, 2, 3, 4, 5]);
    expect(overlap).toBeGreaterThan(1); // the two groups did run side by side
    await until(async () => (await queues.backlog(queue)) === 0, "everything deleted");
  });

  it("leaves dead letters to the queue's own redrive policy when the route has no weir DLQ", async () => {
    const queue = sqsQueueName("redrive");
    const dlq = `${queue}-redrive`;
    const dlqUrl = await queues.create(dlq);
    const arn = (
      await queues.client.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }),
      )
    ).Attributes?.QueueArn;
    await queues.create(queue, {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 2 }),
    });
    await queues.publish(queue, [{ n: 9 }]);
    app = createSQSApp(emulator);
    const attempts: number[] = [];
    app.route([queue], { type: RouteTypes.SQS, waitTime: 1_000 }, async (messages) => {
      attempts.push(...messages.map((m) => m.attempt));
      throw new Error("always fails"); // onException: requeue (visibility 0)
    });
    await app.start();
    await until(async () => (await queues.peek(dlq)).length === 1, "SQS to move it to the redrive DLQ");
    expect(await queues.peek(dlq)).toEqual([{ n: 9 }]);
    expect(attempts).toEqual([1, 2]);
    expect(await queues.backlog(queue)).toBe(0);
  });

  it("a named weir DLQ takes m.deadLetter() with the reason and the original queue as attributes", async () => {
    const queue = sqsQueueName("named");
    const dlq = sqsQueueName("named-dlq");
    await queues.create(queue);
    await queues.publish(queue, [{ n: 1 }]);
    app = createSQSApp(emulator);
    let done = false;
    app.route([queue], { type: RouteTypes.SQS, waitTime: 1_000, deadLetter: { queue: dlq } }, (messages) => {
      for (const m of messages) m.deadLetter("needs a human");
      done = true;
    });
    await app.start();
    await until(() => done, "the handler");
    await until(async () => (await queues.peek(dlq)).length === 1, "the dead letter");
    queues.created.push((await queues.url(dlq))!);
    const { ReceiveMessageCommand } = await import("@aws-sdk/client-sqs");
    const out = await queues.client.send(
      new ReceiveMessageCommand({
        QueueUrl: await queues.url(dlq),
        MessageAttributeNames: ["All"],
        VisibilityTimeout: 0,
      }),
    );
    const attributes = out.Messages?.[0]?.MessageAttributes ?? {};
    expect(attributes["x-weir-error"]?.StringValue).toMatch(/needs a human/);
    // The category and the attempts, in the same words as every transport's dead letters.
    expect(attributes["x-weir-reason"]?.StringValue).toBe("dead-lettered");
    expect(attributes["x-weir-attempts"]?.StringValue).toBe("1");
    expect(attributes["x-weir-original-queue"]?.StringValue).toBe(queue);
  });

  it("logs each dead letter at warn with its queue, dead-letter queue, reason (category), attempts and error, as the other transports do (a schema refusal never reaches the handler)", async () => {
    const queue = sqsQueueName("logged");
    await queues.create(queue);
    await queues.publish(queue, [{ n: "not a number" }]);
    const { logger, lines } = captureLogs("info");
    app = createSQSApp(emulator, { logger });
    app.route(
      [queue],
      { type: RouteTypes.SQS, waitTime: 1_000, deadLetter: true, schema: z.object({ n: z.number() }) },
      async () => {},
    );
    await app.start();
    await until(async () => (await queues.peek(`${queue}-dlq`)).length === 1, "the dead letter");
    queues.created.push((await queues.url(`${queue}-dlq`))!);
    await until(() => linesMatching(lines, /dead-lettered/).length === 1, "the log line");
    expect(linesMatching(lines, /dead-lettered/)[0]).toMatchObject({
      level: WARN,
      queue,
      deadLetterQueue: `${queue}-dlq`,
      reason: "schema",
      attempts: 1,
      error: expect.stringContaining("WEIR_ERR_SCHEMA_VALIDATION"),
    });
  });

  it("start() fails with WEIR_ERR_SQS_QUEUE_NOT_FOUND naming a route's queue that does not exist", async () => {
    const queue = sqsQueueName("absent");
    app = createSQSApp(emulator);
    app.route([queue], { type: RouteTypes.SQS, waitTime: 1_000 }, async () => {});
    const failed = await app.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(SQSQueueNotFoundError);
    expect(failed).toMatchObject({ code: "WEIR_ERR_SQS_QUEUE_NOT_FOUND", queue });
    expect((failed as Error).message).toContain(`"${queue}" does not exist`);
    expect((failed as Error).message).toContain("declare: true"); // the fix, as on the other brokers
  });

  it("app.sqs.publish sends JSON (FIFO: group and deduplication id), and refuses a FIFO send without a group", async () => {
    const queue = sqsQueueName("publish", true);
    await queues.create(queue);
    app = createSQSApp(emulator);
    const id = await app.sqs.publish(
      { hello: "sqs" },
      { queue, messageGroupId: "g", deduplicationId: "d-1" },
    );
    expect(typeof id).toBe("string");
    await app.sqs.publish({ hello: "again" }, { queue, messageGroupId: "g", deduplicationId: "d-1" });
    expect(await queues.peek(queue)).toEqual([{ hello: "sqs" }]); // SQS dropped the duplicate
    await expect(app.sqs.publish({}, { queue })).rejects.toMatchObject({ code: "WEIR_ERR_INVALID_OPTION" });
    await expect(app.sqs.publish({}, { queue: sqsQueueName("missing") })).rejects.toMatchObject({
      code: "WEIR_ERR_SQS_PUBLISH",
    });
  });

  it("the app's sqs.prefetch is the prefetch of a route without its own: weir routes shows it, and a blocked route holds at most that many; a route's own wins", async () => {
    const queue = sqsQueueName("appprefetch");
    await queues.create(queue);
    await queues.publish(
      queue,
      Array.from({ length: 10 }, (_, n) => ({ n })),
    );
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let handled = 0;
    app = createSQSApp(emulator, { sqs: { prefetch: 3 } });
    app.route(
      [queue],
      { type: RouteTypes.SQS, waitTime: 1_000, options: { bulkSize: 1, concurrency: 10 } },
      async () => {
        handled++;
        await gate;
      },
    );
    const transport = app[appTransports].get("sqs");
    // Without it: max(bulkSize, 10) = 10.
    expect(transport?.describe(app.routes[0]!).details).toMatchObject({ prefetch: 3 });
    const own = createSQSApp(emulator, { sqs: { prefetch: 3 } });
    own.route(["elsewhere"], { type: RouteTypes.SQS, prefetch: 7 }, () => {});
    expect(own[appTransports].get("sqs")?.describe(own.routes[0]!).details).toMatchObject({ prefetch: 7 });
    expect(() => createSQSApp(emulator, { sqs: { prefetch: 0 } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "sqs.prefetch" }),
    );

    await app.start();
    try {
      await until(() => handled === 3, "3 messages in the handler");
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(handled).toBe(3);
    } finally {
      release();
    }
    await until(() => handled === 10, "the rest once released");
  });

  it("describes its routes (weir routes), its AsyncAPI channels with the sqs binding, and misuse at registration", async () => {
    app = createSQSApp(emulator);
    app.route(
      ["orders"],
      { type: RouteTypes.SQS, retry: { maxAttempts: 3 }, options: { bulkSize: 20 } },
      () => {},
    );
    const transport = app[appTransports].get("sqs");
    const row = transport?.describe(app.routes[0]!);
    expect(row).toMatchObject({
      type: "sqs",
      routes: ["orders"],
      details: { bulkSize: 20, prefetch: 20, retry: 3, deadLetter: "orders-dlq" },
    });
    const doc = toAsyncAPI(app) as { channels: Record<string, { bindings?: { sqs?: unknown } }> };
    const channel = Object.values(doc.channels)[0];
    expect(channel?.bindings?.sqs).toMatchObject({
      queue: { name: "orders", fifoQueue: false },
      deadLetterQueue: { name: "orders-dlq" },
    });
    expect(() => app?.route(["x"], { type: RouteTypes.SQS, waitTime: 30_000 }, () => {})).toThrow(WeirError);
    expect(() =>
      app?.route(["y"], { type: RouteTypes.SQS, retry: {}, options: { onException: "reject" } }, () => {}),
    ).toThrow(/onException/);
    expect(() => createSQSApp(emulator, { sqs: { endpoint: "not a url" } })).toThrow(/sqs.endpoint/);
  });

  it("takes its endpoint from WEIR_SQS_ENDPOINT when `sqs.endpoint` is not given, as the CLI does", async () => {
    const queue = sqsQueueName("envendpoint");
    await queues.create(queue);
    const saved = process.env.WEIR_SQS_ENDPOINT;
    process.env.WEIR_SQS_ENDPOINT = emulator.endpoint;
    try {
      // Only the variable names the emulator: without it, the app would reach AWS's endpoint.
      app = new App({
        logger: silentLogger,
        sqs: { region: "us-east-1", credentials: { ...TEST_CREDENTIALS } },
      });
      const got: unknown[] = [];
      app.route([queue], { type: RouteTypes.SQS, waitTime: 1_000 }, (messages) => {
        got.push(...messages.map((m) => m.body));
      });
      await app.start();
      await app.sqs.publish({ n: 1 }, { queue });
      await until(() => got.length === 1, "the message published and consumed through the emulator");
      expect(got).toEqual([{ n: 1 }]);
      process.env.WEIR_SQS_ENDPOINT = "not a url";
      expect(() => new App({ logger: silentLogger, sqs: { region: "us-east-1" } })).toThrow(
        /WEIR_SQS_ENDPOINT/,
      );
    } finally {
      if (saved === undefined) delete process.env.WEIR_SQS_ENDPOINT;
      else process.env.WEIR_SQS_ENDPOINT = saved;
    }
  });
});
