import { afterAll, beforeAll, describe } from "vitest";
import { RouteTypes } from "../../src/index.js";
import { createNATSApp, NATSAdmin, NATSProxy, uniqueStream } from "../helpers/nats.js";
import { commonSpec, type DeliveryFixture, deliveryBehaviour, until } from "./delivery-behaviour.js";

/**
 * The delivery behaviour suite on NATS JetStream: the shared server on 4222, reached through a TCP
 * proxy of the test's own so that `interrupt()` can cut weir's connection (as a network failure
 * would) without touching the server. A real server restart is test/nats/restart.test.ts.
 */
describe("delivery behaviour: nats (JetStream)", () => {
  let proxy: NATSProxy;
  beforeAll(async () => {
    proxy = await NATSProxy.start();
  });
  afterAll(async () => {
    await proxy.close();
  });

  deliveryBehaviour((): DeliveryFixture => {
    let admin: NATSAdmin | undefined;
    const appName = uniqueStream("behaviour");
    const open = async () => {
      admin ??= await NATSAdmin.connect();
      return admin;
    };
    return {
      type: "nats",
      async newSource() {
        const a = await open();
        const stream = await a.stream(uniqueStream("behaviour"));
        a.track(`${stream}-dlq`);
        return stream;
      },
      makeApp: () => createNATSApp({ name: appName, shutdownTimeout: 5_000 }, proxy.url),
      spec: (_source, o) => commonSpec(RouteTypes.NATS, o),
      async publish(source, bodies) {
        await (await open()).publish(`${source}.msg`, bodies);
      },
      // The durable consumer weir made (named after the app): undelivered + unacknowledged.
      backlog: async (source) => (await open()).backlog(source, appName),
      deadLetters: async (source) => (await (await open()).messages(`${source}-dlq`)).map((m) => m.body),
      async interrupt() {
        await until(async () => (await proxy.drop()) > 0, "weir's connection to drop");
      },
      async cleanup() {
        await admin?.close();
        admin = undefined;
      },
    };
  });
});
