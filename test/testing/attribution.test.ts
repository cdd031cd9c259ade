import { afterEach, describe, expect, it, vi } from "vitest";
import { type AMQPMessage, App, type AppOptions, ConstantBackoff, RouteTypes } from "../../src/index.js";
import { createTestClient, type DeliveryResult, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/**
 * Issue 14.7 (the test client mixes up what each message caused): every effect a result reports is
 * the effect of the handler call that received the message, not of whatever happened between its
 * delivery and its settlement.
 */

const DEAD_URL = "amqp://guest:secret@127.0.0.1:1";

function deadApp(options: AppOptions = {}): App {
  return new App({
    logger: silentLogger,
    shutdownTimeout: 2_000,
    ...options,
    amqp: { url: DEAD_URL, reconnect: { maxAttempts: 1 }, ...options.amqp },
  });
}

const clients: TestClient[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function bodiesOf(result: DeliveryResult | undefined): unknown[] {
  return (result?.published ?? []).map((message) => message.body);
}

/** A promise and its resolve, to hold a handler at a known point. */
function gate(): { opened: Promise<void>; open(): void } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("what a delivery published is what its handler call published (issue 14.7)", () => {
  it("with the default prefetch, bulkSize 1 and concurrency 1, ids [1, 2, 3] each show their own invoice", async () => {
    const app = deadApp();
    app.route(["orders"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ id: number }>[]) => {
      for (const message of messages) {
        await app.amqp.publish({ invoice: message.body.id }, { routingKey: "invoices" });
      }
    });
    const client = createTestClient(app, { queues: { invoices: {} } });
    clients.push(client);
    const results = await client.amqp.deliver("orders", [{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(results.map(bodiesOf)).toEqual([[{ invoice: 1 }], [{ invoice: 2 }], [{ invoice: 3 }]]);
    // README / docs/testing.md: `ok.published[0]` is the message's own publish, for every message.
    for (const [i, result] of results.entries())
      expect(result.published[0]?.body).toEqual({ invoice: i + 1 });
  });

  it("a bulk's messages share the bulk's publishes, and only those, when bulks overlap (concurrency 2)", async () => {
    const app = deadApp();
    const firstBulkMayPublish = gate();
    let calls = 0;
    app.route(
      ["batches"],
      { type: RouteTypes.AMQP, options: { bulkSize: 2, concurrency: 2 } },
      async (messages: AMQPMessage<number>[]) => {
        const call = ++calls;
        // The first bulk publishes only after the second one has published and settled: both are
        // in weir's hands at once, and a window of time would hand the first one both.
        if (call === 1) await firstBulkMayPublish.opened;
        await app.amqp.publish({ sum: messages.reduce((sum, m) => sum + m.body, 0) }, { routingKey: "sums" });
        if (call === 2) setTimeout(firstBulkMayPublish.open, 5);
      },
    );
    const client = createTestClient(app, { queues: { sums: {} } });
    clients.push(client);
    const results = await client.amqp.deliver("batches", [1, 2, 10, 20]);
    expect(results.map(bodiesOf)).toEqual([[{ sum: 3 }], [{ sum: 3 }], [{ sum: 30 }], [{ sum: 30 }]]);
  });

  it("follows a handler's publishes through its awaits, with 3 bulks interleaving (concurrency 3)", async () => {
    const app = deadApp();
    app.route(
      ["interleaved"],
      { type: RouteTypes.AMQP, options: { concurrency: 3 } },
      async ([message]: AMQPMessage<{ id: number; delays: number[] }>[]) => {
        for (const [step, delay] of message!.body.delays.entries()) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          await app.amqp.publish({ id: message!.body.id, step }, { routingKey: "steps" });
        }
      },
    );
    const client = createTestClient(app, { queues: { steps: {} } });
    clients.push(client);
    const results = await client.amqp.deliver("interleaved", [
      { id: 1, delays: [1, 30, 1] },
      { id: 2, delays: [10, 1, 25] },
      { id: 3, delays: [20, 20, 1] },
    ]);
    for (const [i, result] of results.entries()) {
      expect(bodiesOf(result)).toEqual([0, 1, 2].map((step) => ({ id: i + 1, step })));
    }
    expect(client.amqp.published).toHaveLength(9);
  });

  it("a publish from outside any handler (an HTTP request while a message is in its handler) is nobody's", async () => {
    const app = deadApp();
    const release = gate();
    const entered = gate();
    app.route(["held"], { type: RouteTypes.AMQP }, async () => {
      entered.open();
      await release.opened;
    });
    app.http.post("/notes", async (request) => {
      await app.amqp.publish(request.body, { routingKey: "notes" });
      return { ok: true };
    });
    const client = createTestClient(app, { queues: { notes: {} } });
    clients.push(client);
    const pending = client.amqp.deliver("held", [{ id: 1 }]);
    await entered.opened;
    const response = await client.http.inject({ method: "POST", url: "/notes", payload: { note: "hi" } });
    expect(response.statusCode).toBe(200);
    release.open();
    const [result] = await pending;
    expect(result?.outcome).toBe("ack");
    expect(result?.published).toEqual([]);
    expect(client.amqp.published.map((message) => message.body)).toEqual([{ note: "hi" }]);
  });

  it("a route consuming what another route published reports its own effects, not the publisher's (a chain)", async () => {
    const app = deadApp();
    app.route(["a"], { type: RouteTypes.AMQP }, async ([message]: AMQPMessage<number>[]) => {
      await app.amqp.publish(message!.body + 1, { routingKey: "b" });
      // Still in a's handler while b's handler runs and publishes.
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    app.route(["b"], { type: RouteTypes.AMQP }, async ([message]: AMQPMessage<number>[]) => {
      await app.amqp.publish(message!.body * 10, { routingKey: "c" });
    });
    const client = createTestClient(app, { queues: { c: {} } });
    clients.push(client);
    const [fromA] = await client.amqp.deliver("a", [1]);
    await client.amqp.idle();
    expect(bodiesOf(fromA)).toEqual([2]);
    const fromB = client.amqp.settled.find((result) => result.queue === "b");
    expect(bodiesOf(fromB)).toEqual([20]);
  });

  it.each([0, 1])(
    "of two identical messages in one bulk, the one the handler dead-letters (#%i) is the dead letter",
    async (DL_INDEX) => {
      const app = deadApp();
      app.route(
        ["twins"],
        { type: RouteTypes.AMQP, declare: true, deadLetter: true, options: { bulkSize: 2 } },
        async (messages: AMQPMessage[]) => {
          messages[DL_INDEX]!.deadLetter("the chosen one");
        },
      );
      const client = createTestClient(app);
      clients.push(client);
      const results = await client.amqp.deliver("twins", [{ same: true }, { same: true }]);
      const expected = ["ack", "ack"];
      expected[DL_INDEX] = "dead-letter";
      expect(results.map((result) => result.outcome)).toEqual(expected);
      expect(results[DL_INDEX]?.forwardedTo?.queue).toBe("twins.dlq");
      expect(results.map((result) => result.published)).toEqual([[], []]);
    },
  );

  it("a retried message's later attempt reports what that attempt published, on fake timers", async () => {
    vi.useFakeTimers();
    const app = deadApp();
    app.route(
      ["flaky"],
      {
        type: RouteTypes.AMQP,
        declare: true,
        retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 1_000, floor: 0 }) },
        options: { concurrency: 2 },
      },
      async ([message]: AMQPMessage<{ id: number }>[]) => {
        await app.amqp.publish({ id: message!.body.id, attempt: message!.attempt }, { routingKey: "log" });
        if (message!.attempt === 1) throw new Error("first attempt fails");
      },
    );
    const client = createTestClient(app, { queues: { log: {} } });
    clients.push(client);
    const first = await client.amqp.deliver("flaky", [{ id: 1 }, { id: 2 }]);
    expect(first.map((result) => [result.outcome, bodiesOf(result)])).toEqual([
      ["retry", [{ id: 1, attempt: 1 }]],
      ["retry", [{ id: 2, attempt: 1 }]],
    ]);
    await vi.advanceTimersByTimeAsync(1_000);
    await client.amqp.idle();
    const again = client.amqp.settled.slice(2);
    expect(again.map((result) => [result.outcome, bodiesOf(result)])).toEqual([
      ["ack", [{ id: 1, attempt: 2 }]],
      ["ack", [{ id: 2, attempt: 2 }]],
    ]);
  });
});
