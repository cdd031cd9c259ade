import { afterEach, describe, expect, it } from "vitest";
import { App, type NATSMessage, RouteTypes } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/nats.js";
import { fixedBackoff, numberBody } from "../transports/delivery-behaviour.js";

/** weir/testing's NATS driver: JetStream in memory, the real route runner, no server (port 1 is dead). */
const DEAD = "127.0.0.1:1";

describe("weir/testing: client.nats", () => {
  const clients: TestClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  const client = (app: App) => {
    const made = createTestClient(app);
    clients.push(made);
    return made;
  };

  it("a publish reaches the route's handler in bulks through the runner; the handler's own publish lands in memory", async () => {
    const app = new App({ logger: silentLogger, nats: { servers: DEAD } });
    const seen: number[] = [];
    app.route(
      ["ORDERS"],
      { type: RouteTypes.NATS, subjects: ["orders.>"] },
      async (messages: NATSMessage<{ n: number }>[]) => {
        for (const m of messages) {
          seen.push(m.body.n);
          await app.nats.publish({ invoiced: m.body.n }, { subject: "invoices.created" });
        }
      },
    );
    app.route(
      ["INVOICES"],
      { type: RouteTypes.NATS, subjects: ["invoices.>"], options: { onSuccess: "requeue" } },
      async () => {},
    );
    const c = client(app);
    const result = await c.nats.publish("orders.created", { n: 1 });
    expect(result).toMatchObject({ stream: "ORDERS", seq: 1, outcome: "ack", attempts: 1 });
    expect(seen).toEqual([1]);
    expect(await c.nats.messages("INVOICES")).toEqual([{ invoiced: 1 }]);
  });

  it("publish with a repeated messageId (or msgID, its deprecated alias) reaches the handler once, as JetStream drops it", async () => {
    const app = new App({ logger: silentLogger, nats: { servers: DEAD } });
    const seen: number[] = [];
    app.route(["DEDUP"], { type: RouteTypes.NATS }, async (messages: NATSMessage<{ n: number }>[]) => {
      for (const m of messages) seen.push(m.body.n);
    });
    const c = client(app);
    await c.nats.publish("DEDUP.a", { n: 1 }, { messageId: "one" });
    await c.nats.publish("DEDUP.a", { n: 2 }, { messageId: "one" });
    await c.nats.publish("DEDUP.a", { n: 3 }, { msgID: "one" });
    await c.nats.publish("DEDUP.a", { n: 4 }, { messageId: "two" });
    expect(seen).toEqual([1, 4]);
    await expect(c.nats.publish("DEDUP.a", { n: 5 }, { messageId: "x", msgID: "y" })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
    });
  });

  it("retries with the backoff, then one dead letter: outcome term after maxAttempts deliveries", async () => {
    const app = new App({ logger: silentLogger, nats: { servers: DEAD } });
    const attempts: number[] = [];
    app.route(
      ["JOBS"],
      { type: RouteTypes.NATS, retry: { maxAttempts: 3, backoff: fixedBackoff(10) } },
      async (messages) => {
        for (const m of messages) attempts.push(m.attempt);
        throw new Error("always fails");
      },
    );
    const c = client(app);
    const result = await c.nats.publish("JOBS.run", { job: 1 });
    expect(result).toMatchObject({ outcome: "term", attempts: 3 });
    expect(attempts).toEqual([1, 2, 3]);
    const letters = await c.nats.deadLetters("JOBS");
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      body: { job: 1 },
      subject: "JOBS.run",
      reason: "max-attempts",
      error: "always fails",
      attempts: 3,
    });
  });

  it("a body the schema refuses is dead-lettered without the handler; once-only acks a duplicate", async () => {
    const app = new App({ logger: silentLogger, nats: { servers: DEAD } });
    const handled: unknown[] = [];
    app.route(
      ["CHECKED"],
      { type: RouteTypes.NATS, schema: numberBody, deadLetter: true, once: { ttl: 60_000 } },
      async (messages) => {
        for (const m of messages) handled.push(m.body);
      },
    );
    const c = client(app);
    expect((await c.nats.publish("CHECKED.x", { n: "two" })).outcome).toBe("term");
    expect((await c.nats.publish("CHECKED.x", { n: 1 })).outcome).toBe("ack");
    expect((await c.nats.publish("CHECKED.x", { n: 1 })).outcome).toBe("ack");
    expect(handled).toEqual([{ n: 1 }]);
    expect((await c.nats.deadLetters("CHECKED")).map((l) => [l.body, l.code])).toEqual([
      [{ n: "two" }, "WEIR_ERR_SCHEMA_VALIDATION"],
    ]);
  });

  it("a subject no stream captures is WEIR_ERR_NATS_NO_STREAM; a partial bulk that never flushes is WEIR_ERR_TEST_TIMEOUT", async () => {
    const app = new App({ logger: silentLogger, nats: { servers: DEAD } });
    app.route(
      ["SLOW"],
      { type: RouteTypes.NATS, options: { bulkSize: 10, bulkFlushInterval: 60_000 } },
      async () => {},
    );
    const c = client(app);
    await expect(c.nats.publish("elsewhere", {})).rejects.toMatchObject({ code: "WEIR_ERR_NATS_NO_STREAM" });
    await expect(c.nats.publish("SLOW.x", {}, { timeout: 200 })).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_TIMEOUT",
    });
  });
});
