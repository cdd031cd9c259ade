/**
 * Testing a worker without RabbitMQ: `weir/testing` runs the app's real pipeline (bulks, acks,
 * dead letters, publishes, startup hooks) on an in-memory broker, and HTTP routes through fastify's
 * inject. No broker, no port, no network: the app below even points at a port nothing listens on.
 *
 *   npx tsx examples/08-testing.ts
 *
 * The worker is an app *factory*, `createApp()`: a test builds a fresh app each time (the test
 * client refuses an app that has started), and `weir run examples/08-testing.ts` calls it too. In a
 * test file the same calls sit inside `it(...)` (see docs/testing.md and test/testing/). In your
 * project, import from "weir/testing".
 */
import assert from "node:assert/strict";
import { type AMQPMessage, App, type AppOptions, isMainModule, RouteTypes } from "../src/index.js";
import { createTestClient } from "../src/testing/index.js";

interface Order {
  id: number;
  amount: number;
}

/** The worker. Tests pass options (a logger, a URL); `weir run` calls it without any. */
export function createApp(options: AppOptions = {}): App {
  const app = new App({ name: "testing-example", ...options });
  let handled = 0;

  app.route(
    ["orders"],
    { type: RouteTypes.AMQP, declare: true, deadLetter: true },
    async (messages: AMQPMessage<Order>[]) => {
      for (const message of messages) {
        if (message.body.amount < 0) {
          message.deadLetter("negative amount");
          continue;
        }
        handled++;
        await app.amqp.publish(
          { orderId: message.body.id, total: message.body.amount },
          { routingKey: "invoices" },
        );
      }
    },
  );
  app.http.get("/stats", async () => ({ handled }));
  return app;
}

/** What one `it(...)` of a test file would do, with an app of its own. */
async function checkOrders(): Promise<void> {
  // A port nothing listens on: the client swaps the broker connection, before the app starts.
  const app = createApp({ amqp: { url: "amqp://127.0.0.1:1" } });
  const client = createTestClient(app, { queues: { invoices: {} } });

  const [ok, negative] = await client.amqp.deliver("orders", [
    { id: 1, amount: 30 },
    { id: 2, amount: -5 },
  ]);
  assert.equal(ok?.outcome, "ack");
  assert.deepEqual(
    ok?.published.map((message) => message.body),
    [{ orderId: 1, total: 30 }],
  );
  assert.equal(negative?.outcome, "dead-letter");
  assert.equal(negative?.forwardedTo?.queue, "orders.dlq");
  assert.equal(client.amqp.messages("orders.dlq")[0]?.headers["x-weir-reason"], "dead-lettered");

  // Not JSON: weir refuses it before the handler, and dead-letters it (the route has a DLQ).
  const [broken] = await client.amqp.deliver("orders", [Buffer.from("{oops")], {
    contentType: "application/json",
  });
  assert.equal(broken?.outcome, "dead-letter");

  const stats = await client.http.inject({ method: "GET", url: "/stats" });
  assert.deepEqual(stats.json(), { handled: 1 });

  await client.close();
  app.logger.info(
    { outcomes: client.amqp.settled.map((result) => result.outcome), invoices: client.amqp.published.length },
    "every assertion held, without a broker",
  );
}

if (isMainModule(import.meta.url)) await checkOrders();
