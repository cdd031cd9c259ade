import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AMQPMessage,
  ConstantBackoff,
  MemoryOnceStore,
  RedisOnceStore,
  RouteTypes,
} from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

const REDIS_URL = process.env.WEIR_REDIS_URL ?? "redis://127.0.0.1:6379";

type Order = { id: number };

describe("MemoryOnceStore", () => {
  it("claims, reports in-progress and done keys, releases, and forgets after the ttl", async () => {
    const store = new MemoryOnceStore();
    expect(await store.claim("a", 1000)).toBe("claimed");
    expect(await store.claim("a", 1000)).toBe("busy");
    expect(await store.peek("a")).toBe("busy");
    await store.release("a");
    expect(await store.peek("a")).toBe("free");
    expect(await store.claim("a", 1000)).toBe("claimed");
    await store.complete("a", 30);
    expect(await store.claim("a", 1000)).toBe("done");
    await store.release("a"); // a done key is not released
    expect(await store.peek("a")).toBe("done");
    await sleep(50);
    expect(await store.claim("a", 1000)).toBe("claimed");
  });

  it("an in-progress marker expires after its lease (a crashed handler does not block the key)", async () => {
    const store = new MemoryOnceStore();
    expect(await store.claim("k", 20)).toBe("claimed");
    await sleep(40);
    expect(await store.claim("k", 20)).toBe("claimed");
  });

  it("is a bounded LRU", async () => {
    const store = new MemoryOnceStore({ maxEntries: 3 });
    for (const key of ["a", "b", "c"]) await store.complete(key, 60_000);
    expect(await store.peek("a")).toBe("done"); // touched: now the most recent
    await store.complete("d", 60_000);
    expect(store.size).toBe(3);
    expect(await store.peek("b")).toBe("free");
    expect(await store.peek("a")).toBe("done");
    expect(() => new MemoryOnceStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});

describe("RedisOnceStore (the machine's Redis)", () => {
  let redis: Redis;
  const prefix = `weir-test:${randomUUID().slice(0, 8)}:`;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("claims atomically across stores, expires leases, releases only its own marker", async () => {
    const a = new RedisOnceStore({ redis: REDIS_URL, prefix });
    const b = new RedisOnceStore({ redis, prefix });
    const claims = await Promise.all([a.claim("k1", 5000), b.claim("k1", 5000)]);
    // Sorted in a copy: which store won decides which one owns the marker below.
    expect([...claims].sort()).toEqual(["busy", "claimed"]);
    const owner = claims[0] === "claimed" ? a : b;
    const other = owner === a ? b : a;
    await other.release("k1"); // not its marker: nothing happens
    expect(await a.peek("k1")).toBe("busy");
    await owner.release("k1");
    expect(await b.peek("k1")).toBe("free");
    expect(await a.claim("k2", 50)).toBe("claimed");
    await sleep(250); // well past the 50 ms lease, even on a loaded machine
    expect(await b.claim("k2", 5000)).toBe("claimed");
    await b.complete("k2", 5000);
    expect(await a.claim("k2", 5000)).toBe("done");
    expect(await redis.pttl(`${prefix}k2`)).toBeGreaterThan(4000);
    await a.close();
    await a.close(); // idempotent
    await b.close(); // a passed client stays open
    expect(await redis.ping()).toBe("PONG");
  });

  it("rejects an option that is neither a client nor a redis URL", () => {
    expect(() => new RedisOnceStore({ redis: "http://x" })).toThrow(/redis/);
  });
});

describe("once-only dedup on an AMQP route (alfred once_time)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("acks duplicates (same messageId) without calling the handler, in and across bulks", async () => {
    const queue = await broker.queue(uniqueName("once-mem"));
    const app = createApp();
    const handled: number[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, once: { ttl: 60_000 }, options: { bulkSize: 5, bulkFlushInterval: 50 } },
      async (messages: AMQPMessage<Order>[]) => {
        for (const m of messages) handled.push(m.body.id);
      },
    );
    await app.start();
    for (const id of [1, 2, 1, 3, 1]) await broker.publish(queue, [{ id }], { messageId: `order-${id}` });
    await sleep(200);
    await broker.publish(queue, [{ id: 2 }], { messageId: "order-2" });
    await waitFor(async () => handled.length >= 3 && (await broker.count(queue)) === 0, 5000, "3 handled");
    await sleep(200);
    await app.stop();
    expect(handled.sort()).toEqual([1, 2, 3]);
    expect(await broker.count(queue)).toBe(0);
    expect(app.health().transports[0]?.routes[0]).toMatchObject({ duplicates: 3 });
  });

  it("keys by a hash of the body without a messageId; a failure releases the key; the ttl expires", async () => {
    const queue = await broker.queue(uniqueName("once-body"));
    await broker.queue(`${queue}.retry.100`, {
      "x-message-ttl": 100,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": queue,
      "x-expires": 60_200,
    });
    await broker.queue(`${queue}.dlq`);
    const app = createApp();
    const calls: string[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        once: { ttl: 400 },
        retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 100, floor: 100 }) },
      },
      async ([m]: AMQPMessage<{ n: string }>[]) => {
        calls.push(`${m!.body.n}#${m!.attempt}`);
        if (m!.body.n === "flaky" && m!.attempt === 1) throw new Error("first try fails");
      },
    );
    await app.start();
    await broker.publish(queue, [{ n: "same" }, { n: "same" }, { n: "other" }, { n: "flaky" }]);
    await waitFor(() => calls.length === 4, 5000, "4 calls");
    await broker.publish(queue, [{ n: "flaky" }]); // succeeded on its retry: now a duplicate
    await sleep(500); // past the ttl
    await broker.publish(queue, [{ n: "same" }]);
    await waitFor(() => calls.length === 5, 5000, "the expired key processed again");
    await sleep(150);
    await app.stop();
    expect(calls).toEqual(["same#1", "other#1", "flaky#1", "flaky#2", "same#1"]);
  });

  it("two workers sharing a Redis store process a duplicated message once", async () => {
    const queue = await broker.queue(uniqueName("once-redis"));
    const prefix = `weir-test:${randomUUID().slice(0, 8)}:`;
    const handled = new Map<number, number>();
    const worker = () => {
      const app = createApp();
      app.route(
        [queue],
        {
          type: RouteTypes.AMQP,
          prefetch: 20,
          once: { ttl: 60_000, store: new RedisOnceStore({ redis: REDIS_URL, prefix }) },
          options: { concurrency: 4 },
        },
        async ([m]: AMQPMessage<Order>[]) => {
          await sleep(15); // long enough for the other worker to receive the duplicate meanwhile
          handled.set(m!.body.id, (handled.get(m!.body.id) ?? 0) + 1);
        },
      );
      return app;
    };
    const apps = [worker(), worker()];
    await Promise.all(apps.map((app) => app.start()));
    const ids = Array.from({ length: 50 }, (_, i) => i);
    // Each message twice, back to back: the copies usually reach the two workers at the same time.
    for (const id of ids) {
      await broker.publish(queue, [{ id }, { id }], { messageId: `m-${id}` });
    }
    await waitFor(async () => handled.size === 50 && (await broker.count(queue)) === 0, 10_000, "50 handled");
    await sleep(300);
    await Promise.all(apps.map((app) => app.stop()));
    expect([...handled.values()].every((count) => count === 1)).toBe(true);
    expect(await broker.count(queue)).toBe(0);
    const duplicates = apps.reduce(
      (sum, app) => sum + Number(app.health().transports[0]?.routes[0]?.duplicates ?? 0),
      0,
    );
    expect(duplicates).toBe(50);
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    expect(keys).toHaveLength(50);
    await redis.del(...keys);
    await redis.quit();
  });
});
