import { afterEach, describe, expect, it } from "vitest";
import { App, RouteTypes } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens on port 1: the in-memory broker answers every declare (issue #17). */
const DEAD_URL = "amqp://guest:secret@127.0.0.1:1";

const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function app(): App {
  return new App({
    logger: silentLogger,
    shutdownTimeout: 2_000,
    amqp: { url: DEAD_URL, reconnect: { maxAttempts: 1, floor: 1, ceiling: 5 } },
  });
}

function client(subject: App): TestClient {
  const created = createTestClient(subject);
  clients.push(created);
  return created;
}

type Health = Record<string, unknown> & { ready: boolean };

describe("routes with topology under the test client's in-memory broker (issue #17)", () => {
  it("routes a topic exchange's messages to the routes whose bindings match", async () => {
    const subject = app();
    const got: Record<string, string[]> = { a: [], b: [] };
    const exchanges = [{ name: "events", type: "topic" as const }];
    subject.route(
      ["a"],
      {
        type: RouteTypes.AMQP,
        declare: true,
        exchanges,
        bindings: [{ exchange: "events", routingKey: "order.*" }],
      },
      async (messages) => {
        for (const m of messages) got.a!.push(m.body as string);
      },
    );
    subject.route(
      ["b"],
      {
        type: RouteTypes.AMQP,
        declare: true,
        exchanges,
        bindings: [{ exchange: "events", routingKey: ["#.eu", "audit.#"] }],
      },
      async (messages) => {
        for (const m of messages) got.b!.push(m.body as string);
      },
    );
    const test = client(subject);
    await test.start();
    for (const key of ["order.created", "order.created.eu", "audit", "nothing"]) {
      await subject.amqp.publish(key, { exchange: "events", routingKey: key });
    }
    await test.amqp.idle();
    expect(got).toEqual({ a: ["order.created"], b: ["order.created.eu", "audit"] });
  });

  it("a headers binding matches with x-match all or any", async () => {
    const subject = app();
    const got: string[] = [];
    subject.route(
      ["h"],
      {
        type: RouteTypes.AMQP,
        declare: true,
        exchanges: [{ name: "hx", type: "headers" }],
        bindings: [
          { exchange: "hx", headers: { kind: "invoice", region: "eu" } },
          { exchange: "hx", headers: { urgent: true }, match: "any" },
        ],
      },
      async (messages) => {
        for (const m of messages) got.push(m.body as string);
      },
    );
    const test = client(subject);
    await test.start();
    await subject.amqp.publish("both", { exchange: "hx", headers: { kind: "invoice", region: "eu" } });
    await subject.amqp.publish("one-of-all", { exchange: "hx", headers: { kind: "invoice" } });
    await subject.amqp.publish("urgent", { exchange: "hx", headers: { urgent: true } });
    await test.amqp.idle();
    expect(got).toEqual(["both", "urgent"]);
  });

  it("a broadcast route gets a server-named queue, and a new one after the connection drops", async () => {
    const subject = app();
    const got: number[] = [];
    subject.route(
      ["cache.invalidate"],
      {
        type: RouteTypes.AMQP,
        exchanges: [{ name: "cache", type: "fanout" }],
        broadcast: { exchange: "cache" },
      },
      async (messages) => {
        for (const m of messages) got.push(m.body as number);
      },
    );
    const test = client(subject);
    await test.start();
    const health = () => subject.health().transports[0]?.routes[0] as Health;
    const first = health().broadcastQueue as string;
    expect(first).toMatch(/^amq\.gen-/);
    await subject.amqp.publish(1, { exchange: "cache" });
    await test.amqp.idle();
    test.amqp.dropConnections();
    for (let i = 0; i < 200 && !(health().ready && health().broadcastQueue !== first); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(health().ready).toBe(true);
    expect(health().broadcastQueue).not.toBe(first);
    await subject.amqp.publish(2, { exchange: "cache" });
    await test.amqp.idle();
    expect(got).toEqual([1, 2]);
  });

  it("an exchange declared with other arguments fails the start with WEIR_ERR_EXCHANGE_DECLARE, as on RabbitMQ", async () => {
    const subject = app();
    subject.route(
      ["x1"],
      { type: RouteTypes.AMQP, declare: true, exchanges: [{ name: "shared", type: "topic" }] },
      async () => {},
    );
    subject.route(
      ["x2"],
      { type: RouteTypes.AMQP, declare: true, exchanges: [{ name: "shared", type: "fanout" }] },
      async () => {},
    );
    await expect(client(subject).start()).rejects.toMatchObject({
      code: "WEIR_ERR_EXCHANGE_DECLARE",
      object: { kind: "exchange", name: "shared" },
    });
  });

  it("a binding to a missing exchange fails the start with WEIR_ERR_BIND", async () => {
    const subject = app();
    subject.route(
      ["lonely"],
      { type: RouteTypes.AMQP, declare: true, bindings: [{ exchange: "nowhere", routingKey: "k" }] },
      async () => {},
    );
    await expect(client(subject).start()).rejects.toMatchObject({
      code: "WEIR_ERR_BIND",
      object: { kind: "binding", name: 'lonely -> nowhere ("k")' },
    });
  });

  it("an exclusive consumer refuses a second consumer of its queue (403)", async () => {
    const subject = app();
    subject.route(
      ["solo"],
      { type: RouteTypes.AMQP, declare: true, consumer: { exclusive: true } },
      async () => {},
    );
    subject.route(["solo"], { type: RouteTypes.AMQP }, async () => {});
    await expect(client(subject).start()).rejects.toMatchObject({ code: "WEIR_ERR_ACCESS_REFUSED" });
  });

  it.each([
    ["consumer priority", { consumer: { priority: 5 } }],
    ["single active consumer", { declare: true, consumer: { singleActiveConsumer: true } }],
    [
      "an exchange argument it does not enforce",
      { exchanges: [{ name: "e", type: "direct" as const, arguments: { "x-delayed-type": "direct" } }] },
    ],
  ])("refuses %s with WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT", async (_, extra) => {
    const subject = app();
    subject.route(["q"], { type: RouteTypes.AMQP, declare: true, ...extra }, async () => {});
    await expect(client(subject).start()).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
    });
  });
});

describe("topology options are checked at registration (issue #17)", () => {
  it.each([
    [
      "an unknown exchange key",
      { exchanges: [{ name: "e", type: "topic", durabel: true }] },
      "exchanges[0].durabel",
    ],
    [
      "an unknown exchange type",
      { exchanges: [{ name: "e", type: "x-delayed-message" }] },
      "exchanges[0].type",
    ],
    ["a reserved exchange name", { exchanges: [{ name: "amq.topic", type: "topic" }] }, "exchanges[0].name"],
    [
      "an exchange declared twice",
      {
        exchanges: [
          { name: "e", type: "topic" },
          { name: "e", type: "topic" },
        ],
      },
      "exchanges[1]",
    ],
    ["an unknown binding key", { bindings: [{ exchange: "e", routingkey: "k" }] }, "bindings[0].routingkey"],
    ["a binding of another queue", { bindings: [{ exchange: "e", queue: "other" }] }, "bindings[0].queue"],
    ["an empty list of keys", { bindings: [{ exchange: "e", routingKey: [] }] }, "bindings[0].routingKey"],
    ["match without headers", { bindings: [{ exchange: "e", match: "any" }] }, "bindings[0].match"],
    [
      "a bad x-match",
      { bindings: [{ exchange: "e", headers: { a: 1 }, match: "some" }] },
      "bindings[0].match",
    ],
    ["broadcast with declare", { broadcast: { exchange: "e" }, declare: true }, "declare"],
    ["broadcast with retry", { broadcast: { exchange: "e" }, retry: { maxAttempts: 2 } }, "retry"],
    ["an unknown broadcast key", { broadcast: { exchange: "e", queue: "q" } }, "broadcast.queue"],
    ["an unknown consumer key", { consumer: { prio: 1 } }, "consumer.prio"],
    ["a fractional priority", { consumer: { priority: 1.5 } }, "consumer.priority"],
    [
      "single active consumer without declare",
      { consumer: { singleActiveConsumer: true } },
      "consumer.singleActiveConsumer",
    ],
  ])("refuses %s with WEIR_ERR_INVALID_OPTION", (_, extra, option) => {
    const subject = app();
    expect(() =>
      subject.route(
        ["q"],
        { type: RouteTypes.AMQP, ...(extra as object) } as { type: "amqp" },
        async () => {},
      ),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option }));
  });

  it("refuses a broadcast route with more than one name", () => {
    expect(() =>
      app().route(["a", "b"], { type: RouteTypes.AMQP, broadcast: { exchange: "e" } }, async () => {}),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "broadcast" }));
  });
});
