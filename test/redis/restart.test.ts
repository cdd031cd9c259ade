import { afterEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { createRedisApp, RedisHelper } from "../helpers/redis.js";
import { OwnRedisServer } from "../helpers/redis-server.js";
import { until } from "../transports/delivery-behaviour.js";

describe("redis: the server restarts (bullmq #2964, #4585: a worker that never resumes)", () => {
  let server: OwnRedisServer | undefined;
  let app: App | undefined;
  let redis: RedisHelper | undefined;
  afterEach(async () => {
    await app?.stop();
    await redis?.close();
    await server?.close();
  });

  it("a restart that lost every key: the group is created again, the route consumes again, /ready follows", async () => {
    server = await OwnRedisServer.start();
    app = createRedisApp({ name: "restart", shutdownTimeout: 5_000 }, server.url);
    const handled = new Set<number>();
    app.route(["orders"], { type: RouteTypes.REDIS, claimIdle: 1_000 }, async (messages) => {
      for (const m of messages) handled.add((m.body as { n: number }).n);
    });
    await app.start();
    redis = new RedisHelper(server.url);
    await redis.publish("orders", [{ n: 1 }, { n: 2 }]);
    await until(() => handled.size === 2, "the first two");

    await redis.close();
    await server.kill();
    await until(() => !app!.health().ready, "the route reported not ready while Redis is down", 10_000);
    const restartedAt = Date.now();
    await server.start();
    redis = new RedisHelper(server.url);
    // The restart lost the stream and its group: the route creates the group again (NOGROUP).
    await until(async () => (await redis!.client.exists("orders")) === 1, "the group created again", 15_000);
    await redis.publish("orders", [{ n: 3 }, { n: 4 }]);
    await until(() => handled.size === 4, "the two published after the restart", 15_000);
    const resumedMs = Date.now() - restartedAt;
    await until(() => app!.health().ready, "ready again");
    await until(async () => (await redis!.backlog("orders")) === 0, "nothing pending");
    console.log(`[redis restart] resumedMs=${resumedMs} lostAfterRestart=0`);
    expect([...handled].sort()).toEqual([1, 2, 3, 4]);
  }, 60_000);

  it("start() against a Redis that is not there rejects with WEIR_ERR_CONNECTION, the password redacted", async () => {
    app = createRedisApp({ name: "nowhere" }, "redis://:hunter2@127.0.0.1:1");
    app.route(["orders"], { type: RouteTypes.REDIS }, async () => {});
    const failure = await app.start().then(
      () => undefined,
      (error: unknown) => error as Error & { code?: string },
    );
    expect(failure?.code).toBe("WEIR_ERR_CONNECTION");
    expect(failure?.message).not.toContain("hunter2");
  }, 30_000);

  it("stop() while Redis is down ends without waiting for it (the reads and sweeps are dropped, not waited for)", async () => {
    server = await OwnRedisServer.start();
    app = createRedisApp({ name: "down", shutdownTimeout: 5_000 }, server.url);
    app.route(["orders"], { type: RouteTypes.REDIS, claimIdle: 200 }, async () => {});
    await app.start();
    await server.kill();
    await until(() => !app!.health().ready, "not ready", 10_000);
    // Let a sweep or two start waiting for the server.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await app.stop();
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 30_000);
});
