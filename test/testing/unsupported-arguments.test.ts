import { afterEach, describe, expect, it } from "vitest";
import { App, RouteTypes } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens on port 1: the in-memory broker answers every declare. */
const DEAD_URL = "amqp://guest:secret@127.0.0.1:1";

const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function app(): App {
  return new App({
    logger: silentLogger,
    shutdownTimeout: 2_000,
    amqp: { url: DEAD_URL, reconnect: { maxAttempts: 1 } },
  });
}

describe("the in-memory broker refuses queue arguments it does not enforce (issue #16)", () => {
  it.each([
    ["x-max-length", 10],
    ["x-max-length-bytes", 1024],
    ["x-overflow", "reject-publish-dlx"],
    ["x-max-priority", 5],
    ["x-delivery-limit", 3],
    ["x-single-active-consumer", true],
    ["x-queue-mode", "lazy"],
  ])(
    "a route declaring %s: %s fails the start with WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
    async (key, value) => {
      const subject = app();
      subject.route(
        ["capped"],
        { type: RouteTypes.AMQP, declare: { arguments: { [key]: value } } },
        async () => {},
      );
      const client = createTestClient(subject);
      clients.push(client);
      const delivered = client.amqp.deliver("capped", [{ n: 1 }]);
      await expect(delivered).rejects.toMatchObject({ code: "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT" });
      await expect(delivered).rejects.toThrow(new RegExp(`"?${key}"?`));
    },
  );

  it.each([
    ["x-max-length", 1],
    ["x-delivery-limit", 5],
  ])("a queue of the client's own `queues` option with %s: %s is refused too", async (key, value) => {
    const subject = app();
    subject.route(["plain"], { type: RouteTypes.AMQP }, async () => {});
    const client = createTestClient(subject, { queues: { other: { arguments: { [key]: value } } } });
    clients.push(client);
    await expect(client.amqp.deliver("plain", [{}])).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT",
    });
  });

  it("accepts what it enforces: dead-letter exchange and routing key, message TTL, classic and quorum types, and x-expires", async () => {
    const subject = app();
    const seen: unknown[] = [];
    subject.route(
      ["work"],
      {
        type: RouteTypes.AMQP,
        declare: {
          arguments: {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "work.dlq",
            "x-message-ttl": 60_000,
            "x-expires": 3_600_000,
          },
        },
      },
      async (messages) => {
        for (const message of messages) seen.push(message.body);
      },
    );
    const client = createTestClient(subject, {
      queues: { "work.dlq": { arguments: { "x-queue-type": "classic" } } },
    });
    clients.push(client);
    const [result] = await client.amqp.deliver("work", [{ n: 1 }]);
    expect(result!.outcome).toBe("ack");
    expect(seen).toEqual([{ n: 1 }]);
  });
});
