import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { RouteTypes } from "../../src/index.js";
import { createRedisApp, RedisHelper, uniqueStream } from "../helpers/redis.js";
import { commonSpec, type DeliveryFixture, deliveryBehaviour, until } from "./delivery-behaviour.js";

describe("delivery behaviour: redis (Redis Streams)", () => {
  deliveryBehaviour((): DeliveryFixture => {
    let redis: RedisHelper | undefined;
    const appName = `behaviour-${randomUUID().slice(0, 8)}`;
    const open = () => {
      redis ??= new RedisHelper();
      return redis;
    };
    return {
      type: "redis",
      async newSource() {
        return open().track(uniqueStream("behaviour"));
      },
      makeApp: () => createRedisApp({ name: appName, shutdownTimeout: 5_000 }),
      spec: (_source, o) => commonSpec(RouteTypes.REDIS, o),
      async publish(source, bodies) {
        await open().publish(source, bodies);
      },
      backlog: (source) => open().backlog(source),
      deadLetters: (source) => open().deadLetters(source),
      async interrupt() {
        // Every connection of the app dropped by the server, as a Redis restart drops them.
        await until(
          async () => (await open().killClients(`weir:${appName}:`)) > 0,
          "weir's connections to drop",
        );
      },
      async cleanup() {
        await redis?.close();
        redis = undefined;
      },
    };
  });
});
