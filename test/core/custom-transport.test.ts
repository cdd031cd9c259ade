import { describe, expect, it } from "vitest";
import {
  type BusMessage,
  busTestDriver,
  busTransport,
  createApp,
} from "../../examples/10-custom-transport.js";
import { App, toAsyncAPI } from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import { runCli } from "../cli/helpers.js";
import { silentLogger } from "../helpers/amqp.js";

/**
 * Issue #16, the proof: a transport nobody in weir wrote (examples/10-custom-transport.ts, public
 * exports only), registered with one line, gets bulks, schema, once-only, retries and dead letters
 * from core, and shows in weir routes, AsyncAPI, /metrics and /ready; the test client drives it.
 */

interface BusAPI {
  publish(topic: string, body: unknown): Promise<void>;
  deadLetters(topic: string): readonly { body: unknown; reason: string }[];
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function routeStats(app: App): Record<string, unknown> {
  return app.health().transports.find((transport) => transport.transport === "bus")!.routes[0]!;
}

describe("a custom transport from public exports only (issue #16)", () => {
  it("bulks, schema, once-only and dead letters from core; /metrics and /ready see it", async () => {
    const app = createApp();
    const client = createTestClient(app, { drivers: [busTestDriver] });
    try {
      const bus = client.transport<BusAPI>("bus");
      await bus.publish("orders", { id: 1, total: 10 });
      await bus.publish("orders", { id: 1, total: 10 }); // a duplicate: once
      await bus.publish("orders", { id: 2, total: "ten" }); // fails the schema
      await bus.publish("orders", { id: 3, total: 5000 }); // m.deadLetter() in the handler
      await bus.publish("orders", { id: 4, total: 40 });
      await until(() => bus.deadLetters("orders").length === 2 && routeStats(app).inFlight === 0, "the bulk");
      expect(bus.deadLetters("orders").map((letter) => letter.reason)).toEqual([
        expect.stringContaining("the body fails the schema"),
        "the total needs a review",
      ]);
      expect(routeStats(app)).toMatchObject({ duplicates: 1, deadLettered: 2, retried: 0 });
      const metrics = await client.http.inject("/metrics");
      expect(metrics.body).toMatch(
        /weir_messages_settled_total\{transport="bus",route="orders",outcome="ack"\} 3/,
      );
      expect(metrics.body).toMatch(
        /weir_messages_settled_total\{transport="bus",route="orders",outcome="dead-letter"\} 2/,
      );
      const ready = await client.http.inject("/ready");
      expect(ready.statusCode).toBe(200);
    } finally {
      await client.close();
    }
  });

  it("retries a failed message after the route's delay, the attempt counted, then dead-letters it", async () => {
    const app = new App({ logger: silentLogger, transports: [busTransport], shutdownTimeout: 1_000 });
    const attempts: Array<[unknown, number]> = [];
    app.route(
      ["jobs"],
      { type: "bus", retry: { maxAttempts: 3, delay: 20 } },
      async (messages: BusMessage[]) => {
        for (const message of messages) attempts.push([message.body, message.attempt]);
        if (messages.some((message) => message.body === "always" || message.attempt === 1))
          throw new Error("not yet");
      },
    );
    const client = createTestClient(app, { drivers: [busTestDriver] });
    try {
      const bus = client.transport<BusAPI>("bus");
      await bus.publish("jobs", "once");
      await until(() => attempts.length === 2, "the retry");
      expect(attempts).toEqual([
        ["once", 1],
        ["once", 2],
      ]);
      await bus.publish("jobs", "always");
      await until(() => bus.deadLetters("jobs").length === 1, "the dead letter");
      expect(attempts.slice(2)).toEqual([
        ["always", 1],
        ["always", 2],
        ["always", 3],
      ]);
      expect(bus.deadLetters("jobs")[0]).toMatchObject({ body: "always", reason: "not yet" });
    } finally {
      await client.close();
    }
  });

  it("its routes are typed, described and in the AsyncAPI document", async () => {
    const app = createApp();
    const document = toAsyncAPI(app);
    expect(document.channels["bus.orders"]).toMatchObject({ address: "orders" });
    expect(document.components.schemas).toHaveProperty(["bus.orders.message"]);
    const result = await runCli(["routes", "examples/10-custom-transport.ts", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { type: "bus", routes: ["orders"], details: { bulkSize: 10, retry: 3, once: 60_000, schema: true } },
    ]);
  });
});
