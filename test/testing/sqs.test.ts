import { afterEach, describe, expect, it } from "vitest";
import { App, RouteTypes, type SQSMessage } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

/** No endpoint anywhere: the test client's in-memory SQS serves every call. */
function sqsApp(): App {
  return new App({ logger: silentLogger, shutdownTimeout: 2_000, sqs: { region: "us-east-1" } });
}

describe("client.sqs (in memory, no AWS)", () => {
  it("delivers through the real pipeline: bulks, retries on SQS's receive count, then weir's DLQ", async () => {
    const app = sqsApp();
    const attempts: Array<[number, number]> = [];
    app.route(
      ["orders"],
      {
        type: RouteTypes.SQS,
        waitTime: 0,
        retry: { maxAttempts: 2, backoff: { get: () => 0 } },
        options: { bulkSize: 2, bulkFlushInterval: 50 },
      },
      async (messages: SQSMessage<{ n: number }>[]) => {
        for (const m of messages) {
          attempts.push([m.body.n, m.attempt]);
          if (m.body.n === 2) m.retry();
        }
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    await client.sqs.publish("orders", { n: 1 });
    await client.sqs.publish("orders", { n: 2 });
    const end = Date.now() + 5_000;
    while (client.sqs.deadLetters("orders").length === 0 && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(client.sqs.deadLetters("orders")).toEqual([{ n: 2 }]);
    expect(attempts).toEqual([
      [1, 1],
      [2, 1],
      [2, 2],
    ]);
    await client.sqs.settled("orders");
    expect(client.sqs.messages("orders")).toEqual([]);
  });

  it("app.sqs.publish goes to the in-memory queues too, FIFO group required", async () => {
    const app = sqsApp();
    const seen: unknown[] = [];
    app.route(["jobs.fifo"], { type: RouteTypes.SQS, waitTime: 0 }, (messages) => {
      seen.push(...messages.map((m) => [m.groupId, m.body]));
    });
    const client = createTestClient(app);
    clients.push(client);
    await client.sqs.publish("jobs.fifo", { a: 1 }, { messageGroupId: "g1" });
    await app.sqs.publish({ a: 2 }, { queue: "jobs.fifo", messageGroupId: "g1" });
    await expect(app.sqs.publish({ a: 3 }, { queue: "jobs.fifo" })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
    });
    const end = Date.now() + 5_000;
    while (seen.length < 2 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toEqual([
      ["g1", { a: 1 }],
      ["g1", { a: 2 }],
    ]);
  });

  it("keeps each MessageGroupId in order at concurrency 3 though one receive hands out a whole group", async () => {
    const app = sqsApp();
    const seen: Record<string, number[]> = { a: [], b: [] };
    app.route(
      ["groups.fifo"],
      { type: RouteTypes.SQS, waitTime: 0, options: { concurrency: 3 } },
      async (messages: SQSMessage<{ g: string; n: number }>[]) => {
        // Later messages finish sooner: without weir's group order they would overtake.
        await new Promise((resolve) => setTimeout(resolve, 60 - (messages[0]?.body.n ?? 0) * 10));
        for (const m of messages) seen[m.body.g]?.push(m.body.n);
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    // All sent before the start: the first receive takes both groups whole.
    for (let n = 0; n < 5; n++) {
      await app.sqs.publish({ g: "a", n }, { queue: "groups.fifo", messageGroupId: "a" });
      await app.sqs.publish({ g: "b", n }, { queue: "groups.fifo", messageGroupId: "b" });
    }
    await client.start();
    const end = Date.now() + 5_000;
    while ((seen.a?.length ?? 0) + (seen.b?.length ?? 0) < 10 && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(seen).toEqual({ a: [0, 1, 2, 3, 4], b: [0, 1, 2, 3, 4] });
  });
});
