import { afterEach, describe, expect, it, vi } from "vitest";
import { App, RouteTypes, type SSEEvent } from "../../src/index.js";
import { createTestClient, type TestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens there: the events come from the test client's in-memory fetch. */
const SSE_URL = "http://127.0.0.1:1";

const clients: TestClient[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function sseApp(): App {
  return new App({ logger: silentLogger, shutdownTimeout: 2_000, sse: { url: SSE_URL } });
}

describe("client.sse.emit", () => {
  it("feeds events through the real SSE pipeline: names, ids, JSON bodies and plain text", async () => {
    const app = sseApp();
    const seen: SSEEvent[] = [];
    app.route(["/v2/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    const client = createTestClient(app);
    clients.push(client);
    const result = await client.sse.emit("/v2/events", [
      { event: "deployment_info", id: "1", data: { plan: { id: "p1" } } },
      { data: "plain\ntext" },
    ]);
    expect(result).toEqual({ read: 2, handled: 2, failedBulks: 0, waiting: 0 });
    expect(seen.map((event) => [event.name, event.id, event.body])).toEqual([
      ["deployment_info", "1", { plan: { id: "p1" } }],
      ["message", undefined, "plain\ntext"],
    ]);
    expect(seen[1]!.lastEventId).toBe("1");
  });

  it("keeps a partial bulk until bulkFlushInterval, on fake timers", async () => {
    vi.useFakeTimers();
    const app = sseApp();
    const sizes: number[] = [];
    app.route(
      ["/feed"],
      { type: RouteTypes.SSE, options: { bulkSize: 2, bulkFlushInterval: 1_000 } },
      async (events) => {
        sizes.push(events.length);
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    const result = await client.sse.emit("/feed", [{ data: 1 }, { data: 2 }, { data: 3 }]);
    expect(result).toMatchObject({ read: 3, handled: 2, waiting: 1 });
    expect(sizes).toEqual([2]);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(() => expect(sizes).toEqual([2, 1]));
    const next = await client.sse.emit("/feed", [{ data: 4 }, { data: 5 }]);
    expect(next).toMatchObject({ read: 2, handled: 2, waiting: 0 });
    expect(sizes).toEqual([2, 1, 2]);
  });

  it("reports a failing handler and keeps going (onException: continue)", async () => {
    const app = sseApp();
    app.route(["/boom"], { type: RouteTypes.SSE }, async () => {
      throw new Error("boom");
    });
    const client = createTestClient(app);
    clients.push(client);
    expect(await client.sse.emit("/boom", [{ data: 1 }, { data: 2 }])).toMatchObject({
      handled: 0,
      failedBulks: 2,
    });
  });

  it("sends the route's headers, and Last-Event-ID after a disconnect flushes the partial bulk", async () => {
    const app = new App({
      logger: silentLogger,
      shutdownTimeout: 2_000,
      sse: { url: SSE_URL, reconnect: { floor: 1, ceiling: 5 } },
    });
    const sizes: number[] = [];
    let token = 0;
    app.route(
      ["/stream"],
      {
        type: RouteTypes.SSE,
        headers: () => ({ Authorization: `Bearer t${++token}` }),
        options: { bulkSize: 10 },
      },
      async (events) => {
        sizes.push(events.length);
      },
    );
    const client = createTestClient(app);
    clients.push(client);
    await client.sse.emit("/stream", [
      { id: "41", data: "a" },
      { id: "42", data: "b" },
    ]);
    expect(sizes).toEqual([]);
    await client.sse.disconnect("/stream");
    await vi.waitFor(() => expect(client.sse.connections("/stream")).toHaveLength(2));
    expect(sizes).toEqual([2]);
    const [first, second] = client.sse.connections("/stream");
    expect(first!.headers.authorization).toBe("Bearer t1");
    expect(second!.headers).toMatchObject({ authorization: "Bearer t2", "last-event-id": "42" });
    expect(await client.sse.emit("/stream", [{ id: "43", data: "c" }])).toMatchObject({
      read: 1,
      waiting: 1,
    });
  });

  it("never replaces the global fetch: the feeds reach only the app's own SSE connections", async () => {
    const original = globalThis.fetch;
    const app = sseApp();
    app.route(["/x"], { type: RouteTypes.SSE }, async () => {});
    const client = createTestClient(app);
    await client.start();
    expect(globalThis.fetch).toBe(original);
    // The stream's URL, fetched by the test itself, is not served by the feed: only the app's
    // connections are.
    await expect(fetch("http://127.0.0.1:1/x")).rejects.toThrow();
    expect(await client.sse.emit("/x", [{ data: "a" }])).toMatchObject({ read: 1 });
    await client.close();
    expect(globalThis.fetch).toBe(original);
  });

  it("two clients of two apps serve the same stream URL at once, each its own app", async () => {
    const seen: string[][] = [[], []];
    const clientsHere = [0, 1].map((index) => {
      const app = sseApp();
      app.route(["/same"], { type: RouteTypes.SSE }, async (events) => {
        for (const event of events) seen[index]!.push(String(event.data));
      });
      return createTestClient(app);
    });
    clients.push(...clientsHere);
    await clientsHere[0]!.sse.emit("/same", [{ data: "first" }]);
    await clientsHere[1]!.sse.emit("/same", [{ data: "second" }]);
    expect(seen).toEqual([["first"], ["second"]]);
  });

  it("names the streams it knows when asked for another", async () => {
    const app = sseApp();
    app.route(["/known"], { type: RouteTypes.SSE }, async () => {});
    const client = createTestClient(app);
    clients.push(client);
    await expect(client.sse.emit("/unknown", [{ data: 1 }])).rejects.toMatchObject({
      code: "WEIR_ERR_TEST_UNKNOWN_STREAM",
      message: expect.stringContaining("/known"),
    });
  });
});

describe("client.http.inject", () => {
  it("answers through fastify inject without ever listening", async () => {
    const app = new App({ logger: silentLogger, http: { port: 1 } });
    app.http.get("/hello", async () => ({ hello: "world" }));
    const client = createTestClient(app);
    clients.push(client);
    const response = await client.http.inject({ method: "GET", url: "/hello" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ hello: "world" });
    expect(app.http.url).toBeUndefined();
  });
});
