/**
 * Exchanges and bindings on routes, a broadcast route, and consumer options (issue #17).
 *
 * An order service publishes events to a topic exchange; three routes bind different patterns and
 * each gets exactly the messages its keys match. A broadcast route (cache invalidation) gets a
 * server-named queue of its own per running instance, bound to a fanout exchange, so every instance
 * hears every invalidation. The shipping route is a single active consumer: run this file twice and
 * only one of them ships, the other takes over when the first stops. It stops by itself (or Ctrl-C).
 *
 *   npx tsx examples/11-topology.ts      (needs RabbitMQ on 127.0.0.1:5672, or WEIR_AMQP_URL)
 */
import { App, isMainModule, RouteTypes } from "../src/index.js";

const EVENTS = "weir.demo.events";
const CACHE = "weir.demo.cache";

export const app = new App({ name: "topology-demo" });
const events = { name: EVENTS, type: "topic" } as const;

// Every order event: "order.created", "order.shipped", ... (`*` is one word).
app.route(
  ["weir.demo.orders.all"],
  {
    type: RouteTypes.AMQP,
    declare: true,
    exchanges: [events],
    bindings: [{ exchange: EVENTS, routingKey: "order.*" }],
  },
  async (messages) => {
    for (const m of messages) app.logger.info({ key: m.routingKey, body: m.body }, "orders.all");
  },
);

// Only new orders, shipped by one instance at a time (single active consumer).
app.route(
  ["weir.demo.orders.ship"],
  {
    type: RouteTypes.AMQP,
    declare: true,
    exchanges: [events],
    bindings: [{ exchange: EVENTS, routingKey: "order.created" }],
    consumer: { singleActiveConsumer: true },
  },
  async (messages) => {
    for (const m of messages) app.logger.info({ body: m.body }, "shipping");
  },
);

// Anything about the EU, and every audit event (`#` is any number of words, none included).
app.route(
  ["weir.demo.audit.eu"],
  {
    type: RouteTypes.AMQP,
    declare: true,
    exchanges: [events],
    bindings: [{ exchange: EVENTS, routingKey: ["#.eu", "audit.#"] }],
  },
  async (messages) => {
    for (const m of messages) app.logger.info({ key: m.routingKey, body: m.body }, "audit.eu");
  },
);

// Every running instance gets every invalidation: its own server-named, exclusive queue.
app.route(
  ["cache.invalidate"],
  {
    type: RouteTypes.AMQP,
    exchanges: [{ name: CACHE, type: "fanout", durable: false }],
    broadcast: { exchange: CACHE },
  },
  async (messages) => {
    for (const m of messages) app.logger.info({ body: m.body }, "cache invalidated");
  },
);

async function demo(): Promise<void> {
  const sends: Array<[string, unknown]> = [
    ["order.created", { id: 1 }], // orders.all, ship
    ["order.shipped.eu", { id: 1 }], // audit.eu only
    ["audit.login", { user: "ada" }], // audit.eu
  ];
  for (const [routingKey, body] of sends) await app.amqp.publish(body, { exchange: EVENTS, routingKey });
  await app.amqp.publish({ key: "product:42" }, { exchange: CACHE });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const health = app.health().transports[0]?.routes ?? [];
  app.logger.info(
    { broadcastQueue: health[3]?.broadcastQueue, singleActiveConsumer: health[1]?.singleActiveConsumer },
    "done; stopping",
  );
}

if (isMainModule(import.meta.url)) {
  const running = app.run();
  await app.start();
  try {
    await demo();
  } catch (error) {
    if (app.status === "running") app.logger.error({ err: error }, "demo failed");
  }
  await app.stop();
  await running;
}
