import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  type AMQPMessage,
  App,
  type AppOptions,
  ConstantBackoff,
  RouteTypes,
  UnrecoverableError,
} from "../../src/index.js";
import { createTestClient, type TestClient, TestClientError } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens on port 1: every test here proves the client needs no broker. */
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
function track<C extends TestClient>(client: C): C {
  clients.push(client);
  return client;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

describe("client.amqp.deliver (no broker)", () => {
  it("runs the handler and reports an ack, against an app pointed at a dead URL", async () => {
    const app = deadApp();
    const seen: unknown[] = [];
    app.route(["orders"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ id: number }>[]) => {
      for (const message of messages) seen.push(message.body);
    });
    const client = track(createTestClient(app));
    const results = await client.amqp.deliver("orders", [{ id: 1 }, { id: 2 }]);
    expect(seen).toEqual([{ id: 1 }, { id: 2 }]);
    expect(results.map((result) => result.outcome)).toEqual(["ack", "ack"]);
    expect(results[0]).toMatchObject({ queue: "orders", vhost: "/", body: { id: 1 }, redelivered: false });
    expect(client.amqp.channelErrors).toEqual([]);
  });

  it("reports reject, requeue (held, then redelivered flagged) and the handler's own decisions", async () => {
    const app = deadApp();
    let calls = 0;
    app.route(["jobs"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ kind: string }>[]) => {
      const message = messages[0]!;
      calls++;
      if (message.body.kind === "bad") message.reject({ requeue: false });
      if (message.body.kind === "flaky" && !message.redelivered) throw new Error("try again");
    });
    const client = track(createTestClient(app));
    const results = await client.amqp.deliver("jobs", [{ kind: "bad" }, { kind: "flaky" }, { kind: "ok" }]);
    expect(results.map((result) => result.outcome)).toEqual(["reject", "requeue", "ack"]);
    expect(client.amqp.held).toBe(1);
    const again = await client.amqp.redeliver();
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ outcome: "ack", redelivered: true, body: { kind: "flaky" } });
    expect(calls).toBe(4);
    expect(client.amqp.settled.map((result) => result.outcome)).toEqual(["reject", "requeue", "ack", "ack"]);
  });

  it("rejects a body that is not JSON without calling the handler", async () => {
    const app = deadApp();
    const handler = vi.fn();
    app.route(["raw"], { type: RouteTypes.AMQP }, handler);
    const client = track(createTestClient(app));
    const [result] = await client.amqp.deliver("raw", [Buffer.from("{nope")], {
      contentType: "application/json",
    });
    expect(result!.outcome).toBe("reject");
    expect(handler).not.toHaveBeenCalled();
  });

  it("lists what handlers published, per delivery and overall", async () => {
    const app = deadApp();
    app.route(["in"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ n: number }>[]) => {
      for (const message of messages) {
        await app.amqp.publish(
          { doubled: message.body.n * 2 },
          { routingKey: "out", headers: { via: "in" } },
        );
      }
    });
    const client = track(createTestClient(app, { queues: { out: {} } }));
    const [result] = await client.amqp.deliver("in", [{ n: 21 }]);
    expect(result!.outcome).toBe("ack");
    expect(result!.published).toHaveLength(1);
    expect(result!.published[0]).toMatchObject({ routingKey: "out", queues: ["out"], body: { doubled: 42 } });
    expect(result!.published[0]!.headers).toMatchObject({ via: "in" });
    expect(client.amqp.published.map((message) => message.body)).toEqual([{ doubled: 42 }]);
    expect(client.amqp.messages("out").map((message) => message.body)).toEqual([{ doubled: 42 }]);
  });

  it("follows a chain: a message published by one route is consumed by another", async () => {
    const app = deadApp();
    const totals: number[] = [];
    app.route(["a"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<number>[]) => {
      for (const message of messages) await app.amqp.publish(message.body + 1, { routingKey: "b" });
    });
    app.route(["b"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<number>[]) => {
      for (const message of messages) totals.push(message.body);
    });
    const client = track(createTestClient(app));
    await client.amqp.deliver("a", [1, 2, 3]);
    await client.amqp.idle();
    expect(totals).toEqual([2, 3, 4]);
    expect(client.amqp.settled.filter((result) => result.queue === "b")).toHaveLength(3);
  });

  it("dead-letters through the queue's own dead-letter exchange when weir rejects", async () => {
    const app = deadApp();
    app.route(["payments"], { type: RouteTypes.AMQP }, async (messages) => {
      for (const message of messages) message.reject({ requeue: false });
    });
    const client = track(
      createTestClient(app, {
        queues: {
          payments: {
            arguments: { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "payments.parked" },
          },
          "payments.parked": {},
        },
      }),
    );
    const [result] = await client.amqp.deliver("payments", [{ id: 7 }]);
    expect(result!.outcome).toBe("dead-letter");
    expect(result!.forwardedTo?.queue).toBe("payments.parked");
    const [parked] = client.amqp.messages("payments.parked");
    expect(parked!.body).toEqual({ id: 7 });
    expect(parked!.headers["x-first-death-reason"]).toBe("rejected");
  });

  it("refuses to deliver to a queue no route consumes, with a coded error", async () => {
    const app = deadApp();
    app.route(["known"], { type: RouteTypes.AMQP }, async () => {});
    const client = track(createTestClient(app));
    await expect(client.amqp.deliver("unknown", [{}])).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_NO_CONSUMER",
    });
  });

  it("must be created before the app starts", async () => {
    const app = new App({ logger: silentLogger });
    await app.start();
    expect(() => createTestClient(app)).toThrow(TestClientError);
    await app.stop();
  });

  it("runs startup hooks before the first delivery and shutdown hooks at close", async () => {
    const app = deadApp() as App<{ greeting?: string; closed?: boolean }>;
    app.onStartup((started) => {
      started.state.greeting = "hello";
    });
    app.onShutdown((stopped) => {
      stopped.state.closed = true;
    });
    const greetings: string[] = [];
    app.route(["greet"], { type: RouteTypes.AMQP }, async () => {
      greetings.push(app.state.greeting ?? "none");
    });
    const client = createTestClient(app);
    await client.amqp.deliver("greet", [{}]);
    await client.close();
    expect(greetings).toEqual(["hello"]);
    expect(app.state.closed).toBe(true);
    expect(app.status).toBe("stopped");
  });

  it("recovers after the broker drops its connections, as in production", async () => {
    const app = deadApp({ amqp: { reconnect: { floor: 1, ceiling: 2 } } });
    const bodies: unknown[] = [];
    app.route(["resilient"], { type: RouteTypes.AMQP }, async (messages) => {
      for (const message of messages) bodies.push(message.body);
    });
    const client = track(createTestClient(app));
    await client.amqp.deliver("resilient", [1]);
    client.amqp.dropConnections();
    await vi.waitFor(() => expect(app.health().ready).toBe(true), { timeout: 2000 });
    const [result] = await client.amqp.deliver("resilient", [2]);
    expect(result!.outcome).toBe("ack");
    expect(bodies).toEqual([1, 2]);
  });
});

describe("client lifecycle and options", () => {
  it("closes with `await using`, also while fake timers are on", async () => {
    vi.useFakeTimers();
    const app = deadApp();
    let stopped = false;
    app.onShutdown(() => {
      stopped = true;
    });
    app.route(["scoped"], { type: RouteTypes.AMQP }, async () => {});
    {
      await using client = createTestClient(app);
      expect((await client.amqp.deliver("scoped", [1]))[0]!.outcome).toBe("ack");
    }
    expect(stopped).toBe(true);
    expect(app.status).toBe("stopped");
  });

  it("redelivers a requeued message at once with requeue: redeliver, as RabbitMQ does", async () => {
    const app = deadApp();
    let calls = 0;
    app.route(["again"], { type: RouteTypes.AMQP }, async (messages) => {
      calls++;
      if (!messages[0]!.redelivered) throw new Error("first time fails");
    });
    const client = track(createTestClient(app, { requeue: "redeliver" }));
    const [first] = await client.amqp.deliver("again", [{}]);
    expect(first!.outcome).toBe("requeue");
    await client.amqp.idle();
    expect(calls).toBe(2);
    expect(client.amqp.settled.map((result) => [result.outcome, result.redelivered])).toEqual([
      ["requeue", false],
      ["ack", true],
    ]);
  });

  it("a quorum queue counts redeliveries: m.deliveryCount 0, 1, 2 as on RabbitMQ (issue #18)", async () => {
    const app = deadApp();
    const counts: (number | undefined)[] = [];
    app.route(
      ["counted"],
      { type: RouteTypes.AMQP, declare: { arguments: { "x-queue-type": "quorum" } } },
      async ([m]) => {
        counts.push(m!.deliveryCount);
        if (counts.length < 3) m!.reject();
      },
    );
    const client = track(createTestClient(app, { requeue: "redeliver" }));
    await client.amqp.deliver("counted", [{}]);
    await client.amqp.idle();
    expect(counts).toEqual([0, 1, 2]);
    expect(client.amqp.settled.map((result) => result.outcome)).toEqual(["requeue", "requeue", "ack"]);
  });

  it("delivers to routes on other vhosts", async () => {
    const app = deadApp();
    const seen: string[] = [];
    app.route(["events"], { type: RouteTypes.AMQP, vhost: "tenant-a" }, async (messages) => {
      for (const message of messages) seen.push(`a:${String(message.body)}`);
    });
    app.route(["events"], { type: RouteTypes.AMQP }, async (messages) => {
      for (const message of messages) seen.push(`default:${String(message.body)}`);
    });
    const client = track(createTestClient(app));
    await client.amqp.deliver("events", ["x"], { vhost: "tenant-a" });
    await client.amqp.deliver("events", ["y"]);
    expect(seen).toEqual(["a:x", "default:y"]);
  });

  it("refuses calls once closed", async () => {
    const app = deadApp();
    app.route(["late"], { type: RouteTypes.AMQP }, async () => {});
    const client = createTestClient(app);
    await client.close();
    await expect(client.amqp.deliver("late", [1])).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_CLIENT_CLOSED",
    });
  });
});

describe("bulks and prefetch on the in-memory broker", () => {
  it("hands a full bulk over at once and settles it with one multiple ack", async () => {
    const app = deadApp();
    const sizes: number[] = [];
    app.route(
      ["bulk"],
      { type: RouteTypes.AMQP, prefetch: 10, options: { bulkSize: 5 } },
      async (messages) => {
        sizes.push(messages.length);
      },
    );
    const client = track(createTestClient(app));
    const results = await client.amqp.deliver("bulk", [1, 2, 3, 4, 5]);
    expect(sizes).toEqual([5]);
    expect(results.every((result) => result.outcome === "ack")).toBe(true);
    expect(client.amqp.channelErrors).toEqual([]);
  });

  it("flushes a partial bulk when its oldest message has waited bulkFlushInterval, on fake timers", async () => {
    vi.useFakeTimers();
    const app = deadApp();
    const sizes: number[] = [];
    app.route(
      ["partial"],
      { type: RouteTypes.AMQP, options: { bulkSize: 10, bulkFlushInterval: 5_000 } },
      async (messages) => {
        sizes.push(messages.length);
      },
    );
    const client = track(createTestClient(app));
    const pending = client.amqp.deliver("partial", [1, 2, 3]);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(sizes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const results = await pending;
    expect(sizes).toEqual([3]);
    expect(results.map((result) => result.outcome)).toEqual(["ack", "ack", "ack"]);
  });

  it("never lets a route hold more unacked messages than its prefetch", async () => {
    const app = deadApp();
    let inHandler = 0;
    let most = 0;
    app.route(["bounded"], { type: RouteTypes.AMQP, prefetch: 2, options: { concurrency: 5 } }, async () => {
      inHandler++;
      most = Math.max(most, inHandler);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inHandler--;
    });
    const client = track(createTestClient(app));
    await client.amqp.deliver(
      "bounded",
      Array.from({ length: 10 }, (_, i) => i),
    );
    expect(most).toBe(2);
  });

  it("fails a delivery that is not settled in time with a hint about bulks", async () => {
    const app = deadApp();
    app.route(["slow"], { type: RouteTypes.AMQP, options: { bulkSize: 5 } }, async () => {});
    const client = track(createTestClient(app));
    await expect(client.amqp.deliver("slow", [1], { timeout: 50 })).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_TIMEOUT",
      message: expect.stringContaining("bulkFlushInterval"),
    });
  });
});

describe("retries and dead letters through the test client", () => {
  it("shows a failed message as retry, then dead-letter after maxAttempts, with the DLQ's content", async () => {
    vi.useFakeTimers();
    const app = deadApp();
    let calls = 0;
    app.route(
      ["mail"],
      {
        type: RouteTypes.AMQP,
        declare: true,
        retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 1_000, floor: 0 }) },
      },
      async () => {
        calls++;
        throw new Error("smtp down");
      },
    );
    const client = track(createTestClient(app));
    const [first] = await client.amqp.deliver("mail", [{ to: "ada" }]);
    expect(first!.outcome).toBe("retry");
    expect(first!.forwardedTo?.queue).toBe("mail.retry.1000");
    expect(client.amqp.published).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    await client.amqp.idle();
    expect(calls).toBe(2);
    const last = client.amqp.settled.at(-1)!;
    expect(last.outcome).toBe("dead-letter");
    expect(last.forwardedTo?.queue).toBe("mail.dlq");
    const [dead] = client.amqp.messages("mail.dlq");
    expect(dead!.body).toEqual({ to: "ada" });
    expect(dead!.headers["x-weir-reason"]).toBe("max-attempts");
  });

  it("a route over a declared quorum queue retries through a quorum delay queue (<queue>.retry.<ms>.quorum) and dead-letters to a quorum DLQ (issue #18)", async () => {
    vi.useFakeTimers();
    const app = deadApp();
    const counts: (number | undefined)[] = [];
    app.route(
      ["orders"],
      {
        type: RouteTypes.AMQP,
        declare: { arguments: { "x-queue-type": "quorum" } },
        retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 1_000, floor: 0 }) },
      },
      async ([m]) => {
        counts.push(m!.deliveryCount);
        throw new Error("down");
      },
    );
    const client = track(createTestClient(app));
    const [first] = await client.amqp.deliver("orders", [{ id: 1 }]);
    expect(first!.outcome).toBe("retry");
    expect(first!.forwardedTo?.queue).toBe("orders.retry.1000.quorum");
    await vi.advanceTimersByTimeAsync(1_000);
    await client.amqp.idle();
    const last = client.amqp.settled.at(-1)!;
    expect(last.outcome).toBe("dead-letter");
    expect(last.forwardedTo?.queue).toBe("orders.dlq");
    // Each retry is a new message: a first delivery from a quorum queue the route declares.
    expect(counts).toEqual([0, 0]);
  });

  it("serves the app's dead-letter API (list, replay, purge) from the in-memory broker", async () => {
    const app = deadApp();
    let fail = true;
    const handled: unknown[] = [];
    app.route(["billing"], { type: RouteTypes.AMQP, declare: true, deadLetter: true }, async (messages) => {
      for (const message of messages) {
        if (fail) message.deadLetter("not today");
        else handled.push(message.body);
      }
    });
    const client = track(createTestClient(app));
    await client.amqp.deliver("billing", [{ invoice: 1 }, { invoice: 2 }]);
    const letters = await app.amqp.listDeadLetters("billing");
    expect(letters.map((letter) => [letter.body, letter.reason])).toEqual([
      [{ invoice: 1 }, "dead-lettered"],
      [{ invoice: 2 }, "dead-lettered"],
    ]);
    fail = false;
    const replayed = await app.amqp.replay("billing", {
      filter: (letter) => (letter.body as { invoice: number }).invoice === 2,
    });
    expect(replayed.replayed).toBe(1);
    await client.amqp.idle();
    expect(handled).toEqual([{ invoice: 2 }]);
    expect(await app.amqp.purgeDeadLetters("billing")).toBe(1);
    expect(client.amqp.messages("billing.dlq")).toEqual([]);
    expect(client.amqp.channelErrors).toEqual([]);
  });

  it("shows m.deadLetter(), an UnrecoverableError and a schema failure as dead-letter", async () => {
    const app = deadApp();
    app.route(
      ["strict"],
      { type: RouteTypes.AMQP, declare: true, deadLetter: true, schema: z.object({ n: z.number() }) },
      async (messages) => {
        for (const message of messages) {
          if (message.body.n === 1) message.deadLetter("no thanks");
          if (message.body.n === 2) throw new UnrecoverableError("never");
        }
      },
    );
    const client = track(createTestClient(app));
    const results = await client.amqp.deliver("strict", [{ n: 1 }]);
    const unrecoverable = await client.amqp.deliver("strict", [{ n: 2 }]);
    const invalid = await client.amqp.deliver("strict", [{ n: "three" }]);
    for (const [result] of [results, unrecoverable, invalid]) {
      expect(result!.outcome).toBe("dead-letter");
      expect(result!.forwardedTo?.queue).toBe("strict.dlq");
    }
    expect(client.amqp.messages("strict.dlq").map((message) => message.headers["x-weir-reason"])).toEqual([
      "dead-lettered",
      "unrecoverable",
      "schema",
    ]);
  });
});
