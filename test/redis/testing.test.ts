import { describe, expect, it } from "vitest";
import { App, ConstantBackoff, type RedisMessage, RouteTypes } from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/redis.js";
import { numberBody, until } from "../transports/delivery-behaviour.js";

/** An app whose Redis does not exist: the test client must never connect to it. */
function makeApp(): App {
  return new App({ name: "redis-testing", logger: silentLogger, redis: { url: "redis://127.0.0.1:1" } });
}

describe("weir/testing: the Redis driver (in memory, no Redis)", () => {
  it("delivers into the route's bulks and says how the entry was settled", async () => {
    const app = makeApp();
    const seen: unknown[] = [];
    app.route(["orders"], { type: RouteTypes.REDIS }, async (messages) => {
      for (const m of messages) seen.push(m.body);
    });
    const client = createTestClient(app);
    try {
      const result = await client.redis.publish("orders", { n: 1 });
      expect(result.outcome).toBe("ack");
      expect(seen).toEqual([{ n: 1 }]);
      expect(client.redis.entries("orders").map((e) => e.body)).toEqual([{ n: 1 }]);
      expect(app.health().transports.find((t) => t.transport === "redis")?.connections).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("a requeue comes back redelivered; a refused body and exhausted retries land in the dead letters", async () => {
    const app = makeApp();
    const attempts: Array<{ n: number; attempt: number; redelivered: boolean }> = [];
    app.route(
      ["jobs"],
      {
        type: RouteTypes.REDIS,
        schema: numberBody,
        retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 10, floor: 0 }) },
      },
      async (messages) => {
        for (const m of messages) {
          attempts.push({ n: m.body.n, attempt: m.attempt, redelivered: m.redelivered });
          if (m.body.n === 1 && !m.redelivered) m.reject();
          if (m.body.n === 2) throw new Error("always fails");
        }
      },
    );
    const client = createTestClient(app);
    try {
      expect((await client.redis.publish("jobs", { n: 1 })).outcome).toBe("requeue");
      await until(() => attempts.filter((a) => a.n === 1).length === 2, "the requeued entry back");
      expect(attempts.filter((a) => a.n === 1).map((a) => a.redelivered)).toEqual([false, true]);
      expect((await client.redis.publish("jobs", { n: "x" })).outcome).toBe("dead-letter");
      expect((await client.redis.publish("jobs", { n: 2 })).outcome).toBe("retry");
      await until(() => client.redis.deadLetters("jobs").length === 2, "the exhausted retry dead-lettered");
      expect(attempts.filter((a) => a.n === 2).map((a) => a.attempt)).toEqual([1, 2]);
      expect(client.redis.deadLetters("jobs").map((l) => [l.body, l.reason])).toEqual([
        [{ n: "x" }, "schema"],
        [{ n: 2 }, "max-attempts"],
      ]);
    } finally {
      await client.close();
    }
  });

  it("app.redis.publish from a handler reaches the route of the other stream", async () => {
    const app = makeApp();
    const shipped: RedisMessage[] = [];
    app.route(["orders"], { type: RouteTypes.REDIS }, async (messages) => {
      for (const m of messages) await app.redis.publish(m.body, { stream: "shipments", maxLen: 1000 });
    });
    app.route(["shipments"], { type: RouteTypes.REDIS }, async (messages) => {
      shipped.push(...messages);
    });
    const client = createTestClient(app);
    try {
      await client.redis.publish("orders", { id: 7 });
      await until(() => shipped.length === 1, "the shipment");
      expect(shipped[0]?.body).toEqual({ id: 7 });
      expect(shipped[0]?.stream).toBe("shipments");
    } finally {
      await client.close();
    }
  });
});
