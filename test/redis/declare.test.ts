import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { createRedisApp, RedisHelper, uniqueStream } from "../helpers/redis.js";
import { until } from "../transports/delivery-behaviour.js";

describe("redis: declare (one route-level name for creating what a route reads, as on AMQP)", () => {
  const apps: App[] = [];
  let redis: RedisHelper | undefined;
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await redis?.close();
  });

  it("declare: true is what a Redis route always does: a route with it on a stream that does not exist yet starts, gets its group, and consumes an entry", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("declare"));
    const group = `declare-${randomUUID().slice(0, 8)}`;
    const a = createRedisApp({ name: group });
    apps.push(a);
    const got: unknown[] = [];
    a.route(
      [stream],
      { type: RouteTypes.REDIS, declare: true, retry: { maxAttempts: 2 }, options: { bulkSize: 1 } },
      async (messages) => {
        for (const m of messages) got.push(m.body);
      },
    );
    await a.start();
    const groups = (await redis.client.call("XINFO", ["GROUPS", stream])) as unknown[][];
    expect(groups.map((flat) => flat[flat.indexOf("name") + 1])).toEqual([group]);
    await a.redis.publish({ n: 1 }, { stream });
    await until(() => got.length === 1, "the entry");
    expect(got).toEqual([{ n: 1 }]);
    await until(async () => (await redis!.backlog(stream)) === 0, "the entry acked");
  });

  it("refused at app.route: declare: false (Redis makes a stream on its first write, weir the group at start) and a declare that is not a boolean", () => {
    const a = createRedisApp({ name: "declare-refused" });
    const refused = (declare: unknown) => {
      try {
        a.route(["s"], { type: RouteTypes.REDIS, declare } as never, async () => {});
      } catch (error) {
        return error as { code: string; option: string; message: string };
      }
      throw new Error(`accepted declare: ${String(declare)}`);
    };
    const no = refused(false);
    expect(no).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "declare" });
    expect(no.message).toContain("first write");
    expect(no.message).toContain("consumer group");
    expect(refused("yes")).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "declare" });
    expect(refused(1)).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "declare" });
    expect(a.routes).toHaveLength(0);
  });
});
