import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type AMQPMessage, type AMQPPublisher, App, RouteTypes, toAsyncAPI } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Typed publishers under weir/testing: they publish into the in-memory broker (issue #17). */

/** Nothing listens on port 1: every test here proves the client needs no broker. */
const DEAD_URL = "amqp://guest:secret@127.0.0.1:1";

const Invoice = z.object({ order: z.number().int(), total: z.number().nonnegative() });

const clients: Array<TestClient<State>> = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

interface State {
  invoices: AMQPPublisher<z.input<typeof Invoice>>;
}

function shop(): App<State> {
  const app = new App<State>({
    logger: silentLogger,
    shutdownTimeout: 2_000,
    amqp: { url: DEAD_URL, reconnect: { maxAttempts: 1 } },
  });
  // As an app would: made at module level, handed to handlers on app.state.
  app.state.invoices = app.amqp.publisher({
    name: "invoices",
    exchange: "",
    routingKey: "invoices",
    schema: Invoice,
    headers: { "x-source": "billing" },
  });
  app.route(
    ["orders"],
    { type: RouteTypes.AMQP },
    async (messages: AMQPMessage<{ id: number; total: number }>[]) => {
      for (const m of messages) await app.state.invoices.publish({ order: m.body.id, total: m.body.total });
    },
  );
  return app;
}

describe("a typed publisher under the test client", () => {
  it("publishes into the in-memory broker, from a handler and from the test, as app.amqp.publish does", async () => {
    const app = shop();
    const client = createTestClient(app, { queues: { invoices: {} } });
    clients.push(client);
    const [result] = await client.amqp.deliver("orders", [{ id: 7, total: 30 }]);
    expect(result!.outcome).toBe("ack");
    expect(result!.published).toHaveLength(1);
    expect(result!.published[0]).toMatchObject({
      exchange: "",
      routingKey: "invoices",
      queues: ["invoices"],
      body: { order: 7, total: 30 },
      headers: { "x-source": "billing" },
      properties: { messageId: expect.any(String), timestamp: expect.any(Number) },
    });

    await app.state.invoices.publish({ order: 8, total: 12 }, { headers: { "x-manual": true } });
    expect(client.amqp.messages("invoices").map((message) => message.body)).toEqual([
      { order: 7, total: 30 },
      { order: 8, total: 12 },
    ]);
    expect(client.amqp.messages("invoices")[1]!.headers).toEqual({ "x-source": "billing", "x-manual": true });
    const ids = client.amqp.messages("invoices").map((message) => message.properties.messageId);
    expect(new Set(ids).size).toBe(2);
  });

  it("refuses an invalid body without publishing: the handler's failure is the route's onException", async () => {
    const app = shop();
    const client = createTestClient(app, { queues: { invoices: {} } });
    clients.push(client);
    const [result] = await client.amqp.deliver("orders", [{ id: 7, total: -5 }]);
    expect(result!.outcome).toBe("requeue");
    expect(result!.published).toEqual([]);
    expect(client.amqp.published).toEqual([]);
    await expect(app.state.invoices.publish({ order: 1.5, total: 1 })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_SCHEMA",
      issues: [expect.objectContaining({ path: "order" })],
    });
    expect(client.amqp.messages("invoices")).toEqual([]);
  });

  it("lists publishers made before start in the AsyncAPI document; one made per call later is not kept", async () => {
    const app = shop();
    const client = createTestClient(app, { queues: { invoices: {} } });
    clients.push(client);
    await client.start();
    const late = app.amqp.publisher({ name: "late", exchange: "", routingKey: "invoices" });
    await late.publish({ order: 1, total: 1 });
    expect(client.amqp.messages("invoices")).toHaveLength(1);
    const operations = Object.values(toAsyncAPI(app).operations) as Array<{
      action: string;
      summary: string;
    }>;
    const sends = operations
      .filter((operation) => operation.action === "send")
      .map((operation) => operation.summary);
    expect(sends).toEqual(['Publisher "invoices": publishes to queue invoices.']);
  });
});
