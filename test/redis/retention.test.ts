import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { RedisRouteConsumer } from "../../src/transports/redis/route-consumer.js";
import { createRedisApp, RedisHelper, uniqueStream } from "../helpers/redis.js";
import { until } from "../transports/delivery-behaviour.js";

// A full, synchronous collection on demand: what is still reachable after it is retained.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("redis: what a route keeps of the entries it read", () => {
  let app: App | undefined;
  let redis: RedisHelper | undefined;
  let restore: RedisRouteConsumer["deliver"] | undefined;
  afterEach(async () => {
    if (restore !== undefined) RedisRouteConsumer.prototype.deliver = restore;
    await app?.stop();
    await redis?.close();
  });

  it("the reply of a read is let go once its entries are settled (it was kept for the route's life: a leak of every entry read)", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("retention"));
    // The flat field list of each entry as read: a part of the XREADGROUP reply, nothing else keeps it.
    const read: WeakRef<object>[] = [];
    // Wrapped by hand: a vi.spyOn mock would keep every call's arguments itself.
    restore = RedisRouteConsumer.prototype.deliver;
    const deliver = restore;
    RedisRouteConsumer.prototype.deliver = function (this: RedisRouteConsumer, ...args) {
      const flat = args[2];
      if (Array.isArray(flat)) read.push(new WeakRef(flat));
      deliver.apply(this, args);
    };
    let handled = 0;
    app = createRedisApp({ name: "retention" });
    // prefetch 1: one read per entry, so the later reads are not the one that still holds the first.
    app.route([stream], { type: RouteTypes.REDIS, prefetch: 1 }, async (messages) => {
      handled += messages.length;
    });
    await app.start();
    await redis.publish(stream, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await until(() => handled === 4, "every entry handled");
    await until(async () => (await redis!.backlog(stream)) === 0, "every entry acked");
    // WeakRefs made in this job keep their targets until it ends: collect in a later one.
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
    expect(read.length).toBeGreaterThanOrEqual(4);
    expect(read.slice(0, 2).map((ref) => ref.deref() === undefined)).toEqual([true, true]);
  });
});
