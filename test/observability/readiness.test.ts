import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";
import { closeConnections } from "../helpers/rabbitmqctl.js";
import { BrokerUser, ready, urlOf } from "./helpers.js";

async function waitForStatus(app: App, status: number, what: string): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await waitFor(
    async () => {
      const answer = await ready(app);
      last = answer.body;
      return answer.status === status;
    },
    15_000,
    what,
  );
  return last;
}

describe("/ready follows the AMQP routes", () => {
  let broker: Broker;
  const apps: App[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await broker.close();
  });

  it("answers 503 naming the route while the app's connection is down, 200 once it reconnected", async () => {
    const queue = await broker.queue(uniqueName("ready-conn"));
    const name = uniqueName("ready-conn-app");
    // The app connects as a user of the test's own: refusing that user holds the reconnect off for
    // as long as the test needs to see the 503, without touching any other connection.
    const user = await BrokerUser.create(name);
    try {
      const app = createApp({
        name,
        amqp: { url: user.url(), reconnect: { floor: 50, ceiling: 300 } },
        http: { port: 0 },
        observability: { health: true },
      });
      apps.push(app);
      app.route([queue], { type: RouteTypes.AMQP }, async () => {});
      await app.start();
      expect(await ready(app)).toEqual({
        status: 200,
        body: { ready: true, status: "running", notReady: [] },
      });

      await user.refuse();
      // Refusing the user does not close its connection; the broker-side close below does.
      expect(await closeConnections(`weir:${name}:`)).toBe(1);
      const down = await waitForStatus(app, 503, "/ready to answer 503");
      expect(down.ready).toBe(false);
      expect(down.status).toBe("running");
      expect(down.notReady).toEqual([
        {
          transport: "amqp",
          route: queue,
          details: expect.objectContaining({ connected: false, consuming: [] }),
        },
      ]);
      // Liveness is not readiness: the process is fine, its broker is not.
      expect((await fetch(`${urlOf(app)}/health`)).status).toBe(200);

      await user.allow();
      await waitForStatus(app, 200, "/ready to answer 200 after the reconnect");
      const route = app.health().transports[0]?.routes[0];
      expect(route?.reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all(apps.splice(0).map((app) => app.stop()));
      await user.delete();
    }
  });

  it("answers 503 when a consumed queue is deleted and 200 once it is declared again", async () => {
    const kept = await broker.queue(uniqueName("ready-kept"));
    const deleted = await broker.queue(uniqueName("ready-deleted"));
    const app = createApp({
      name: uniqueName("ready-queue-app"),
      amqp: { reconnect: { floor: 50, ceiling: 300 } },
      http: { port: 0 },
      observability: { health: true },
    });
    apps.push(app);
    app.route([kept, deleted], { type: RouteTypes.AMQP }, async () => {});
    await app.start();
    expect((await ready(app)).status).toBe(200);

    await broker.deleteQueue(deleted);
    const down = await waitForStatus(app, 503, "/ready to answer 503 after the queue was deleted");
    expect(down.notReady).toEqual([
      {
        transport: "amqp",
        route: `${kept},${deleted}`,
        details: expect.objectContaining({ connected: true, consuming: [kept] }),
      },
    ]);

    await broker.queue(deleted);
    await waitForStatus(app, 200, "/ready to answer 200 after the queue was declared again");
    expect(app.health().transports[0]?.routes[0]?.consuming).toEqual([kept, deleted]);
  });
});
