import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { type App, ConstantBackoff, RouteTypes } from "../../src/index.js";
import { createRedisApp, RedisHelper, uniqueStream } from "../helpers/redis.js";
import { until } from "../transports/delivery-behaviour.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("redis: consumer groups", () => {
  const apps: App[] = [];
  let redis: RedisHelper | undefined;
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await redis?.close();
  });

  function app(name: string): App {
    const made = createRedisApp({ name, shutdownTimeout: 5_000 });
    apps.push(made);
    return made;
  }

  it("the app's redis.prefetch is the prefetch of a route without its own: weir routes shows it, and a blocked route holds at most that many entries; a route's own prefetch wins", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("appprefetch"));
    const a = createRedisApp({ name: `prefetch-${randomUUID().slice(0, 8)}`, redis: { prefetch: 3 } });
    apps.push(a);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let handled = 0;
    a.route([stream], { type: RouteTypes.REDIS, options: { bulkSize: 1, concurrency: 10 } }, async () => {
      handled++;
      await gate;
    });
    a.route([`${stream}-own`], { type: RouteTypes.REDIS, prefetch: 7 }, async () => {});
    redis.track(`${stream}-own`);
    const transport = a[appTransports].get("redis");
    expect(transport?.describe(a.routes[0]!).details).toMatchObject({ prefetch: 3 });
    expect(transport?.describe(a.routes[1]!).details).toMatchObject({ prefetch: 7 });
    expect(() => createRedisApp({ redis: { prefetch: 0 } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "redis.prefetch" }),
    );

    await redis.publish(
      stream,
      Array.from({ length: 10 }, (_, n) => ({ n })),
    );
    await a.start();
    try {
      await until(() => handled === 3, "3 entries in the handler");
      await sleep(500);
      // Concurrency 10 would take all ten: the app's prefetch holds the route at 3.
      expect(handled).toBe(3);
    } finally {
      release();
    }
    await until(() => handled === 10, "the rest once released");
    await until(async () => (await redis!.backlog(stream)) === 0, "all acked");
  });

  it("a live worker whose handler outlasts claimIdle keeps its entry (renewed): the other worker of the group never takes it", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("renew"));
    const group = `renew-${randomUUID().slice(0, 8)}`;
    const calls: string[] = [];
    for (const worker of ["slow", "idle"]) {
      app(group).route([stream], { type: RouteTypes.REDIS, claimIdle: 300 }, async () => {
        calls.push(worker);
        if (worker === "slow") await sleep(1_500);
      });
    }
    await apps[0]!.start();
    await redis.publish(stream, [{ n: 1 }]);
    await until(() => calls.length === 1, "the slow handler");
    await apps[1]!.start();
    await until(async () => (await redis!.backlog(stream)) === 0, "the slow bulk acked", 10_000);
    await sleep(400);
    expect(calls).toEqual(["slow"]);
  });

  it("two groups each get every entry; a retry of one group is not handled again by the other", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("groups"));
    const seen: Record<string, number[]> = { billing: [], audit: [] };
    app(`billing-${randomUUID().slice(0, 6)}`).route(
      [stream],
      {
        type: RouteTypes.REDIS,
        group: "billing",
        retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 50, floor: 0 }) },
      },
      async (messages) => {
        for (const m of messages) {
          seen.billing!.push(m.attempt);
          if (m.attempt === 1) m.retry();
        }
      },
    );
    app(`audit-${randomUUID().slice(0, 6)}`).route(
      [stream],
      { type: RouteTypes.REDIS, group: "audit" },
      async (messages) => {
        for (const m of messages) seen.audit!.push(m.attempt);
      },
    );
    await Promise.all(apps.map((a) => a.start()));
    await redis.publish(stream, [{ n: 1 }]);
    await until(() => seen.billing!.length === 2, "the billing retry");
    await until(async () => (await redis!.backlog(stream)) === 0, "both groups settled");
    await sleep(300);
    expect(seen).toEqual({ billing: [1, 2], audit: [1] });
  });

  it("a route held at its prefetch while its sweeps run keeps handling (a sweep without room waits for room)", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("full"));
    await redis.publish(stream, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }, { n: 6 }]);
    const handled: number[] = [];
    app(`full-${randomUUID().slice(0, 6)}`).route(
      [stream],
      // Sweeps every 50 ms, while the route holds its 2 entries most of the time.
      { type: RouteTypes.REDIS, prefetch: 2, claimIdle: 100, options: { bulkSize: 1 } },
      async (messages) => {
        await sleep(150);
        handled.push(...messages.map((m) => (m.body as { n: number }).n));
      },
    );
    await apps[0]!.start();
    await until(() => handled.length === 6, "all six, one at a time", 10_000);
    expect(handled).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("the pending list's delivery count is the attempt: an entry requeued every time ends in the dead letters after retry.maxAttempts deliveries", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("count"));
    await redis.publish(stream, [{ n: 1 }]);
    const seen: Array<{ attempt: number; count: number; redelivered: boolean }> = [];
    app(`count-${randomUUID().slice(0, 6)}`).route(
      [stream],
      {
        type: RouteTypes.REDIS,
        retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 10, floor: 0 }) },
      },
      async (messages) => {
        for (const m of messages) {
          seen.push({ attempt: m.attempt, count: m.deliveryCount, redelivered: m.redelivered });
          m.reject(); // a requeue, as a crash or a lost connection would leave it
        }
      },
    );
    await apps[0]!.start();
    await until(async () => (await redis!.deadLetters(stream)).length === 1, "the dead letter");
    expect(seen).toEqual([
      { attempt: 1, count: 1, redelivered: false },
      { attempt: 2, count: 2, redelivered: true },
      { attempt: 3, count: 3, redelivered: true },
    ]);
    const [letter] = await redis.deadLetterFields(stream);
    expect(letter).toMatchObject({
      "x-weir-reason": "max-attempts",
      "x-weir-error-code": "WEIR_ERR_REDELIVERED",
    });
    await until(async () => (await redis!.backlog(stream)) === 0, "nothing pending");
  });

  it("a route on two streams reads both, within its prefetch", async () => {
    redis = new RedisHelper();
    const first = redis.track(uniqueStream("two-a"));
    const second = redis.track(uniqueStream("two-b"));
    await redis.publish(first, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await redis.publish(second, [{ n: 4 }, { n: 5 }, { n: 6 }]);
    const bulks: Array<Array<[string, number]>> = [];
    app(`two-${randomUUID().slice(0, 6)}`).route(
      [first, second],
      { type: RouteTypes.REDIS, prefetch: 4, options: { bulkSize: 4, bulkFlushInterval: 100 } },
      async (messages) => {
        bulks.push(messages.map((m) => [m.stream, (m.body as { n: number }).n]));
      },
    );
    await apps[0]!.start();
    await until(() => bulks.flat().length === 6, "all six");
    expect(Math.max(...bulks.map((bulk) => bulk.length))).toBeLessThanOrEqual(4);
    expect(
      bulks
        .flat()
        .map(([, n]) => n)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6]);
    await until(
      async () => (await redis!.backlog(first)) + (await redis!.backlog(second)) === 0,
      "all acked",
    );
  });
});
