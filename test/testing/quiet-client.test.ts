import { afterEach, describe, expect, it } from "vitest";
import { type AMQPMessage, App, RouteTypes } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { captureLogs } from "../helpers/logs.js";

/**
 * weir/testing's in-memory broker decodes headers itself, so weir has no decoder to install on its
 * connections and nothing to warn about (a new user's review found every test run logging "this
 * amqplib version cannot be given weir's header decoder"). A file of its own: the warning is
 * logged once per process, so a test after another that triggered it could not fail.
 */

const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

describe("weir/testing logs no warning of its own", () => {
  it("a delivery through the in-memory broker logs nothing at warn or above", async () => {
    const { logger, lines } = captureLogs("warn");
    const app = new App({ logger, amqp: { url: "amqp://guest:guest@127.0.0.1:1" } });
    const seen: unknown[] = [];
    app.route(["orders"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ id: number }>[]) => {
      for (const message of messages) seen.push(message.body);
    });
    const client = createTestClient(app);
    clients.push(client);
    await client.amqp.deliver("orders", [{ id: 1 }], { headers: { "x-big": 2n ** 60n } });
    expect(seen).toEqual([{ id: 1 }]);
    expect(lines).toEqual([]);
  });
});
