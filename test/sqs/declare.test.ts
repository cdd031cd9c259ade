import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { type App, RouteTypes, type SQSMessage } from "../../src/index.js";
import { captureLogs, INFO, linesMatching } from "../helpers/logs.js";
import { createSQSApp, sqsQueueName, sqsTestBed } from "../helpers/sqs.js";
import { until } from "../transports/delivery-behaviour.js";

/**
 * `declare` on SQS routes (issue #20: a worker moves between brokers by its route type and app
 * options): at start, a route's missing queue is created; an existing one is used as it is.
 */

const { emulator, queues } = await sqsTestBed();
let app: App | undefined;

async function attributesOf(name: string, names: string[]): Promise<Record<string, string>> {
  const url = await queues.url(name);
  if (url === undefined) throw new Error(`${name} does not exist`);
  const out = await queues.client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names as never }),
  );
  return out.Attributes ?? {};
}

/** A queue weir created: deleted after the test. */
async function adopt(name: string): Promise<void> {
  const url = await queues.url(name);
  if (url !== undefined) queues.created.push(url);
}

describe("SQS routes with `declare`", () => {
  it("creates a missing standard queue at start with the route's visibility timeout, logs it, and consumes what is published after start", async () => {
    const queue = sqsQueueName("declared");
    expect(await queues.url(queue)).toBeUndefined();
    const { logger, lines } = captureLogs("info");
    app = createSQSApp(emulator, { logger });
    const got: unknown[] = [];
    app.route(
      [queue],
      { type: RouteTypes.SQS, declare: true, visibilityTimeout: 5_000, waitTime: 1_000 },
      (messages) => {
        got.push(...messages.map((m) => m.body));
      },
    );
    await app.start();
    await adopt(queue);
    expect(await attributesOf(queue, ["VisibilityTimeout", "FifoQueue"])).toMatchObject({
      VisibilityTimeout: "5",
    });
    expect((await attributesOf(queue, ["FifoQueue"])).FifoQueue ?? "false").toBe("false");
    await app.sqs.publish({ n: 1 }, { queue });
    await until(() => got.length === 1, "the message published after start");
    expect(got).toEqual([{ n: 1 }]);
    const created = linesMatching(lines, /queue created/);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ level: INFO, queue, fifo: false, transport: "sqs" });
  });

  it("creates a missing `.fifo` queue as a FIFO queue; `attributes` pass through and win over the derived ones", async () => {
    const queue = sqsQueueName("declaredfifo", true);
    const { logger, lines } = captureLogs("info");
    app = createSQSApp(emulator, { logger });
    const got: Array<{ body: unknown; group: string | undefined }> = [];
    app.route(
      [queue],
      {
        type: RouteTypes.SQS,
        visibilityTimeout: 4_000,
        waitTime: 1_000,
        declare: { attributes: { VisibilityTimeout: "6", ContentBasedDeduplication: "true" } },
      },
      (messages: SQSMessage<{ n: number }>[]) => {
        got.push(...messages.map((m) => ({ body: m.body, group: m.groupId })));
      },
    );
    await app.start();
    await adopt(queue);
    expect(
      await attributesOf(queue, ["FifoQueue", "VisibilityTimeout", "ContentBasedDeduplication"]),
    ).toMatchObject({ FifoQueue: "true", VisibilityTimeout: "6", ContentBasedDeduplication: "true" });
    await app.sqs.publish({ n: 1 }, { queue, messageGroupId: "g" });
    await app.sqs.publish({ n: 2 }, { queue, messageGroupId: "g" });
    await until(() => got.length === 2, "both messages of the group");
    expect(got).toEqual([
      { body: { n: 1 }, group: "g" },
      { body: { n: 2 }, group: "g" },
    ]);
    expect(linesMatching(lines, /queue created/)[0]).toMatchObject({ queue, fifo: true });
  });

  it("uses an existing queue as it is: other attributes are no error and are left unchanged; nothing is logged as created", async () => {
    const queue = sqsQueueName("existing");
    await queues.create(queue, { VisibilityTimeout: "7" });
    await queues.publish(queue, [{ n: 1 }]);
    const { logger, lines } = captureLogs("info");
    app = createSQSApp(emulator, { logger });
    const got: unknown[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.SQS,
        visibilityTimeout: 3_000,
        waitTime: 1_000,
        declare: { attributes: { DelaySeconds: "5" } },
      },
      (messages) => {
        got.push(...messages.map((m) => m.body));
      },
    );
    await app.start();
    await until(() => got.length === 1, "the message already on the queue");
    expect(await attributesOf(queue, ["VisibilityTimeout", "DelaySeconds"])).toMatchObject({
      VisibilityTimeout: "7",
      DelaySeconds: "0",
    });
    expect(linesMatching(lines, /queue created/)).toEqual([]);
  });

  it("two workers starting at once on a missing queue with different attributes both start: the second uses the queue the first created", async () => {
    const queue = sqsQueueName("race");
    const { logger, lines } = captureLogs("info");
    const apps = [3_000, 4_000].map((visibilityTimeout) => {
      const worker = createSQSApp(emulator, { logger });
      worker.route(
        [queue],
        { type: RouteTypes.SQS, declare: true, visibilityTimeout, waitTime: 1_000 },
        () => {},
      );
      return worker;
    });
    try {
      await Promise.all(apps.map((worker) => worker.start()));
      await adopt(queue);
      const { VisibilityTimeout } = await attributesOf(queue, ["VisibilityTimeout"]);
      expect(["3", "4"]).toContain(VisibilityTimeout);
      expect(linesMatching(lines, /queue created/)).toHaveLength(1);
    } finally {
      await Promise.all(apps.map((worker) => worker.stop()));
    }
  });

  it("creates only the missing queues of a route, and its weir DLQ as today (FIFO for a FIFO queue)", async () => {
    const present = sqsQueueName("present");
    const missing = sqsQueueName("missing", true);
    await queues.create(present);
    app = createSQSApp(emulator);
    app.route(
      [present, missing],
      { type: RouteTypes.SQS, declare: true, deadLetter: true, waitTime: 1_000 },
      () => {},
    );
    await app.start();
    await adopt(missing);
    const dlq = `${missing.slice(0, -".fifo".length)}-dlq.fifo`;
    await adopt(dlq);
    await adopt(`${present}-dlq`);
    expect(await attributesOf(missing, ["FifoQueue"])).toMatchObject({ FifoQueue: "true" });
    expect(await attributesOf(dlq, ["FifoQueue"])).toMatchObject({ FifoQueue: "true" });
    expect(await queues.url(`${present}-dlq`)).toBeDefined();
  });

  it("refuses at app.route a queue URL with `declare`, and a `declare` that is not a boolean or { attributes } of strings", () => {
    app = createSQSApp(emulator);
    const route = (queue: string, declare: unknown) => () =>
      app!.route([queue], { type: RouteTypes.SQS, declare } as never, () => {});
    const url = `${emulator.endpoint}/000000000000/some-queue`;
    expect(route(url, true)).toThrow(
      expect.objectContaining({
        code: "WEIR_ERR_INVALID_OPTION",
        option: "declare",
        message: expect.stringMatching(/queue names/),
      }),
    );
    expect(route(url, { attributes: {} })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
    expect(route(url, false)).not.toThrow(); // no declare: a URL is fine
    for (const [declare, option] of [
      ["yes", "declare"],
      [1, "declare"],
      [null, "declare"],
      [{ attrs: {} }, "declare.attrs"],
      [{ attributes: "VisibilityTimeout=5" }, "declare.attributes"],
      [{ attributes: { VisibilityTimeout: 5 } }, "declare.attributes.VisibilityTimeout"],
      [{ attributes: { FifoQueue: "true" } }, "declare.attributes.FifoQueue"],
    ] as const) {
      expect(route(sqsQueueName("bad"), declare), JSON.stringify(declare)).toThrow(
        expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option }),
      );
    }
    expect(route(sqsQueueName("bad", true), { attributes: { FifoQueue: "false" } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "declare.attributes.FifoQueue" }),
    );
  });

  it("weir routes shows `declare`", () => {
    app = createSQSApp(emulator);
    app.route(["declared"], { type: RouteTypes.SQS, declare: { attributes: {} } }, () => {});
    app.route(["plain"], { type: RouteTypes.SQS }, () => {});
    const transport = app[appTransports].get("sqs");
    expect(transport?.describe(app.routes[0]!).details).toMatchObject({ declare: true });
    expect(transport?.describe(app.routes[1]!).details.declare).toBeUndefined();
  });
});
