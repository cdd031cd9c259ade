import { afterEach, describe, expect, it } from "vitest";
import { App, RemoteError, RouteTypes } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens on port 1: request / reply runs on the test client's in-memory broker (issue #17). */
const DEAD_URL = "amqp://guest:secret@127.0.0.1:1";

const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function pricing(): App {
  const app = new App({
    logger: silentLogger,
    shutdownTimeout: 2_000,
    amqp: { url: DEAD_URL, reconnect: { maxAttempts: 1, floor: 1, ceiling: 5 } },
  });
  app.route(
    ["prices"],
    { type: RouteTypes.AMQP, declare: true, reply: true, options: { onException: "reject" } },
    async (messages) =>
      messages.map((m) => {
        const { sku } = m.body as { sku: string };
        if (sku === "unknown") throw Object.assign(new Error(`no price for ${sku}`), { code: "NO_PRICE" });
        return { sku, cents: sku.length * 100 };
      }),
  );
  return app;
}

function client(subject: App): TestClient {
  const created = createTestClient(subject);
  clients.push(created);
  return created;
}

describe("request / reply under the test client's in-memory broker (issue #17)", () => {
  it("app.amqp.request gets the replying route's answer over the in-memory direct reply-to", async () => {
    const subject = pricing();
    const test = client(subject);
    await test.start();
    const replies = await Promise.all(
      ["ab", "abc", "abcd"].map((sku) =>
        subject.amqp.request({ sku }, { routingKey: "prices", timeout: 2_000 }),
      ),
    );
    expect(replies).toEqual([
      { sku: "ab", cents: 200 },
      { sku: "abc", cents: 300 },
      { sku: "abcd", cents: 400 },
    ]);
    // The requests are settled as any delivery (each after its reply was confirmed); the replies
    // are among what the app published.
    await test.amqp.idle();
    expect(test.amqp.settled.map((result) => result.outcome)).toEqual(["ack", "ack", "ack"]);
    expect(test.amqp.published.filter((m) => m.routingKey.startsWith("amq.rabbitmq.reply-to."))).toHaveLength(
      3,
    );
  });

  it("a failing handler's callers get a RemoteError; the request is settled by onException", async () => {
    const subject = pricing();
    const test = client(subject);
    await test.start();
    const error = await subject.amqp
      .request({ sku: "unknown" }, { routingKey: "prices", timeout: 2_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ remoteCode: "NO_PRICE", message: "no price for unknown" });
    await test.amqp.idle();
    expect(test.amqp.settled.map((result) => result.outcome)).toEqual(["reject"]);
  });

  it("test.amqp.deliver to a replying route: a message without replyTo is handled and gets no reply", async () => {
    const subject = pricing();
    const test = client(subject);
    await test.start();
    const [result] = await test.amqp.deliver("prices", [{ sku: "xyz" }]);
    expect(result?.outcome).toBe("ack");
    expect(test.amqp.published).toHaveLength(0);
  });
});
