import { afterEach, describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { type AMQPMessage, App, type AppOptions, RouteTypes, toAsyncAPI } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens on port 1: the in-memory broker runs the stream. */
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
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

describe("stream routes under the test client (issue #18)", () => {
  it("a stream route gets each message with its offset, in bulks, every one acked", async () => {
    const app = deadApp();
    const bulks: number[][] = [];
    app.route(
      ["events"],
      { type: RouteTypes.AMQP, stream: { offset: "first" }, options: { bulkSize: 3, bulkFlushInterval: 50 } },
      async (messages: AMQPMessage<{ n: number }>[]) => {
        bulks.push(messages.map((m) => Number(m.headers["x-stream-offset"])));
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    const results = await client.amqp.deliver(
      "events",
      [1, 2, 3, 4, 5].map((n) => ({ n })),
    );
    expect(results.map((result) => result.outcome)).toEqual(["ack", "ack", "ack", "ack", "ack"]);
    expect(bulks).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
    expect(results.map((result) => Number(result.headers["x-stream-offset"]))).toEqual([0, 1, 2, 3, 4]);
    expect(client.amqp.channelErrors).toEqual([]);
  });

  it("a failing bulk is acked, not requeued (a stream keeps it; nothing comes back), and the route goes on", async () => {
    const app = deadApp();
    const seen: number[] = [];
    app.route(
      ["ledger"],
      { type: RouteTypes.AMQP, stream: {} },
      async (messages: AMQPMessage<{ n: number }>[]) => {
        seen.push(...messages.map((m) => m.body.n));
        if (messages.some((m) => m.body.n === 2)) throw new Error("boom");
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    const results = await client.amqp.deliver("ledger", [{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(results.map((result) => result.outcome)).toEqual(["ack", "ack", "ack"]);
    await client.amqp.idle();
    expect(seen).toEqual([1, 2, 3]);
    expect(client.amqp.channelErrors).toEqual([]);
  });

  it("a stream route declared by weir (declare: true) is a stream queue there too", async () => {
    const app = deadApp();
    const seen: number[] = [];
    app.route(
      ["declared"],
      { type: RouteTypes.AMQP, declare: true, stream: { offset: "next", consumer: "audit" } },
      async (messages: AMQPMessage<{ n: number }>[]) => {
        seen.push(...messages.map((m) => Number(m.headers["x-stream-offset"])));
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    await client.amqp.deliver("declared", [{ n: 1 }, { n: 2 }]);
    expect(seen).toEqual([0, 1]);
  });

  it.each([
    ["retry", { retry: { maxAttempts: 3 } }, "retry"],
    ["deadLetter", { deadLetter: true }, "deadLetter"],
    ["onException requeue", { options: { onException: "requeue" } }, "options.onException"],
    ["two queues", {}, "stream"],
  ] as const)(
    "a stream route with %s is refused at registration with WEIR_ERR_INVALID_OPTION",
    (_, extra, option) => {
      const app = deadApp();
      const queues = option === "stream" ? ["a", "b"] : ["a"];
      expect(() =>
        app.route(queues, { type: RouteTypes.AMQP, stream: { offset: "first" }, ...extra }, async () => {}),
      ).toThrow(
        expect.objectContaining({
          code: "WEIR_ERR_INVALID_OPTION",
          message: expect.stringContaining(`"${option}"`),
        }),
      );
    },
  );

  it.each([["middle"], [-1], [1.5], [new Date(Number.NaN)]])("stream.offset %s is refused", (offset) => {
    const app = deadApp();
    expect(() =>
      app.route(["a"], { type: RouteTypes.AMQP, stream: { offset: offset as never } }, async () => {}),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }));
  });

  it("a route without stream over a stream queue is still refused (WEIR_ERR_STREAM_QUEUE), naming the stream option", () => {
    const app = deadApp();
    expect(() =>
      app.route(
        ["s"],
        { type: RouteTypes.AMQP, declare: { arguments: { "x-queue-type": "stream" } } },
        async () => {},
      ),
    ).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_STREAM_QUEUE", message: expect.stringContaining("stream:") }),
    );
  });
});

describe("stream routes in weir routes and AsyncAPI (issue #18)", () => {
  function ledgerApp(): App {
    const app = deadApp({ name: "books" });
    app.route(
      ["ledger"],
      { type: RouteTypes.AMQP, declare: true, stream: { offset: new Date("2026-01-01T00:00:00Z") } },
      async () => {},
    );
    return app;
  }

  it("weir routes shows the consumer, the starting offset and where the offset is kept", () => {
    const app = ledgerApp();
    const [record] = app.routes;
    const row = app[appTransports].get("amqp")!.describe(record!);
    expect(row.details).toMatchObject({
      onException: "ack",
      stream:
        "consumer books.ledger from 2026-01-01T00:00:00.000Z (a stored offset wins; in ledger.weir-offsets.books.ledger)",
    });
  });

  it("AsyncAPI titles the channel as a stream and says how it is read", () => {
    const document = toAsyncAPI(ledgerApp());
    const channels = document.channels as Record<string, { title: string }>;
    expect(channels.ledger?.title).toBe("stream ledger");
    const operations = Object.values(document.operations as Record<string, { description?: string }>);
    expect(operations[0]?.description).toContain('read by consumer "books.ledger"');
    expect(operations[0]?.description).toContain("failed bulks are not redelivered");
  });
});
