import { afterEach, describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { App, type AppOptions, RouteTypes } from "../../src/index.js";
import type { ConnectFunction } from "../../src/transports/amqp/options.js";
import { AMQPTransport, amqpInternals } from "../../src/transports/amqp/transport.js";
import { silentLogger, uniqueName, waitFor } from "../helpers/amqp.js";
import { memoryBackend } from "../helpers/test-broker.js";

/**
 * Issue #18, "Many hosts": `amqp.url` as a list of nodes. Run on weir/testing's in-memory broker
 * behind a connect that refuses the nodes a test marks down (as a stopped RabbitMQ node does:
 * ECONNREFUSED), so which node each connection tries and lands on is observable without a cluster.
 * test/cluster/*.test.ts does the same against a real 3-node cluster.
 */

const NODES = [
  "amqp://guest:secret@10.0.0.1:5672",
  "amqp://guest:secret@10.0.0.2:5673",
  "amqp://guest:secret@10.0.0.3",
];

const down = new Set<string>();
const tried: string[] = [];
const connect: ConnectFunction = async (url, options) => {
  const host = new URL(url).host;
  tried.push(host);
  if (down.has(host)) {
    throw Object.assign(new Error(`connect ECONNREFUSED ${host}`), { code: "ECONNREFUSED" });
  }
  return memoryBackend().connect(url, options);
};

/** The route's queue is declared (auto-delete), so it needs no broker set-up of its own. */
const ROUTE = { type: RouteTypes.AMQP, declare: { autoDelete: true } } as const;

const apps: App[] = [];
function hostsApp(options: AppOptions = {}): App {
  const app = new App({ logger: silentLogger, ...options, amqp: { url: NODES, ...options.amqp } });
  const transport = app[appTransports].get("amqp");
  if (!(transport instanceof AMQPTransport)) throw new Error("the app has no AMQP transport");
  transport[amqpInternals]().useConnect(connect);
  apps.push(app);
  return app;
}

afterEach(async () => {
  for (const app of apps.splice(0)) await app.stop();
  down.clear();
  tried.length = 0;
  delete process.env.WEIR_AMQP_URL;
});

function amqpHealth(app: App) {
  const transport = app.health().transports.find((each) => each.transport === "amqp");
  if (transport === undefined) throw new Error("no amqp health");
  return transport;
}

describe("amqp.url as a list of nodes", () => {
  it("in-order: tries the first URL, moves on to the next at once when it is down; health, connection name show the node", async () => {
    const name = uniqueName("hosts-order");
    down.add("10.0.0.1:5672");
    const app = hostsApp({ name, amqp: { hostSelection: "in-order" } });
    app.route([uniqueName("hosts-q")], ROUTE, async () => {});
    const started = Date.now();
    await app.start();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(tried).toEqual(["10.0.0.1:5672", "10.0.0.2:5673"]);
    const health = amqpHealth(app);
    expect(health.routes[0]).toMatchObject({ ready: true, node: "10.0.0.2:5673" });
    expect(health.connections).toEqual([
      { role: "consume", vhost: "/", connected: true, node: "10.0.0.2:5673", reconnects: 0 },
    ]);
    expect(JSON.stringify(app.health())).not.toContain("secret");
    expect(memoryBackend().names(`weir:${name}:`)).toEqual([`weir:${name}:/@10.0.0.2:5673`]);
  });

  it("a lost connection reconnects to the next node and re-consumes; the publisher rotates the same way", async () => {
    const name = uniqueName("hosts-next");
    const queue = uniqueName("hosts-q");
    const got: unknown[] = [];
    const app = hostsApp({ name, amqp: { hostSelection: "in-order" } });
    app.route([queue], ROUTE, async (messages) => {
      for (const message of messages) got.push(message.body);
    });
    await app.start();
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    expect(amqpHealth(app).connections?.map((each) => [each.role, each.node])).toEqual([
      ["consume", "10.0.0.1:5672"],
      ["publish", "10.0.0.1:5672"],
    ]);
    down.add("10.0.0.1:5672");
    expect(memoryBackend().drop(`weir:${name}:`)).toBe(2);
    await waitFor(() => amqpHealth(app).routes[0]?.ready === true, 5_000, "the route to re-consume");
    expect(amqpHealth(app).routes[0]).toMatchObject({ node: "10.0.0.2:5673", reconnects: 1 });
    await app.amqp.publish({ n: 2 }, { routingKey: queue });
    await waitFor(() => got.length === 2, 5_000, "both messages");
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    const connections = amqpHealth(app).connections ?? [];
    expect(connections.map((each) => [each.role, each.node, each.reconnects])).toEqual([
      ["consume", "10.0.0.2:5673", 1],
      ["publish", "10.0.0.2:5673", 1],
    ]);
    // Never back to the node just lost while the next one answers.
    expect(tried.filter((host) => host === "10.0.0.1:5672")).toHaveLength(2);
  });

  it("every node down: backs off only after a whole round, and connects as soon as one answers", async () => {
    for (const host of ["10.0.0.1:5672", "10.0.0.2:5673", "10.0.0.3"]) down.add(host);
    const app = hostsApp({ amqp: { hostSelection: "in-order", reconnect: { floor: 200, ceiling: 200 } } });
    app.route([uniqueName("hosts-q")], ROUTE, async () => {});
    const starting = app.start();
    await waitFor(() => tried.length >= 6, 5_000, "two rounds");
    expect(tried.slice(0, 6)).toEqual([
      "10.0.0.1:5672",
      "10.0.0.2:5673",
      "10.0.0.3",
      "10.0.0.1:5672",
      "10.0.0.2:5673",
      "10.0.0.3",
    ]);
    down.clear();
    await starting;
    expect(amqpHealth(app).routes[0]?.ready).toBe(true);
  });

  it("random (the default): the first URL tried differs between connections, each goes round the list", async () => {
    const first = new Set<string>();
    for (let run = 0; run < 30 && first.size < 3; run++) {
      tried.length = 0;
      const app = hostsApp();
      app.route([uniqueName("hosts-q")], ROUTE, async () => {});
      await app.start();
      first.add(tried[0]!);
      await app.stop();
    }
    expect(first.size).toBe(3);
  });

  it("WEIR_AMQP_URL takes a comma-separated list", async () => {
    process.env.WEIR_AMQP_URL = ` ${NODES[1]} , ${NODES[0]},`;
    const app = new App({ logger: silentLogger });
    apps.push(app);
    const transport = app[appTransports].get("amqp") as AMQPTransport;
    transport[amqpInternals]().useConnect(connect);
    expect(transport[amqpInternals]().url).toBe(
      "amqp://guest:***@10.0.0.2:5673, amqp://guest:***@10.0.0.1:5672",
    );
  });

  it("refuses a bad list, a bad URL in it, mixed vhosts and an unknown hostSelection with WEIR_ERR_INVALID_OPTION", () => {
    const bad: AppOptions["amqp"][] = [
      { url: [] },
      { url: ["amqp://a", "http://b"] },
      { url: ["amqp://a", "not a url"] },
      { url: ["amqp://a/one", "amqp://b/two"] },
      { url: [42 as unknown as string] },
      { url: NODES, hostSelection: "first" as never },
    ];
    for (const amqp of bad) {
      let error: unknown;
      try {
        new App({ logger: silentLogger, amqp });
      } catch (caught) {
        error = caught;
      }
      expect((error as { code?: string })?.code, JSON.stringify(amqp)).toBe("WEIR_ERR_INVALID_OPTION");
      expect(String((error as Error).message)).not.toContain("secret");
    }
  });
});
