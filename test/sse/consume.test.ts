import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes, type SSEEvent } from "../../src/index.js";
import { createApp, routeHealth, SSETestServer, sleep, waitFor } from "./sse-test-server.js";

const n = (event: SSEEvent): number => (event.body as { n: number }).n;
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("SSE consuming", () => {
  let server: SSETestServer;
  let app: App | undefined;
  beforeEach(async () => {
    server = await SSETestServer.start();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await server.close();
  });

  it("hands events over in bulks of bulkSize, in order, and the handler always gets an array", async () => {
    server.numbered("/events", { total: 9 });
    app = createApp({ sse: { url: server.url } });
    const bulks: number[][] = [];
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { bulkSize: 3, bulkFlushInterval: 60_000 } },
      async (events) => {
        expect(Array.isArray(events)).toBe(true);
        bulks.push(events.map(n));
      },
    );
    await app.start();
    await waitFor(() => bulks.length === 3, 3000, "3 bulks");
    expect(bulks).toEqual([range(1, 3), range(4, 6), range(7, 9)]);
  });

  it("gives one event per call by default (bulkSize 1)", async () => {
    server.numbered("/events", { total: 3 });
    app = createApp({ sse: { url: server.url } });
    const bulks: number[][] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      bulks.push(events.map(n));
    });
    await app.start();
    await waitFor(() => bulks.length === 3, 3000, "3 bulks");
    expect(bulks).toEqual([[1], [2], [3]]);
  });

  it("flushes a partial bulk once its oldest event has waited bulkFlushInterval, never an empty one", async () => {
    server.manual("/events");
    app = createApp({ sse: { url: server.url } });
    const bulks: { ids: (string | undefined)[]; at: number }[] = [];
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { bulkSize: 100, bulkFlushInterval: 300 } },
      async (events) => {
        bulks.push({ ids: events.map((event) => event.id), at: Date.now() });
      },
    );
    await app.start();
    const firstAt = Date.now();
    server.send("/events", { id: "a", data: "1" });
    await sleep(250);
    server.send("/events", { id: "b", data: "2" });
    await waitFor(() => bulks.length === 1, 3000, "a timed flush");
    const waited = (bulks[0]?.at ?? 0) - firstAt;
    // Counted from the oldest event (~300 ms), not from the newest one (~550 ms).
    expect(waited).toBeGreaterThanOrEqual(270);
    expect(waited).toBeLessThan(520);
    expect(bulks[0]?.ids).toEqual(["a", "b"]);
    await sleep(700);
    expect(bulks).toHaveLength(1);
  });

  it("joins multi-line data with \\n, handles CRLF and ignores comments, keep-alives and data-less events", async () => {
    server.manual("/events");
    app = createApp({ sse: { url: server.url } });
    const seen: SSEEvent[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    await app.start();
    server.write("/events", ': keep-alive\n\ndata: {"plan":\ndata:  {"id": 7}}\n\n');
    server.write("/events", ":ping\nevent: nothing\n\n");
    server.write("/events", "data: line one\r\ndata:line two\r\ndata\r\n\r\n");
    server.write("/events", "data: split ");
    await sleep(30);
    server.write("/events", "across chunks\n\n");
    await waitFor(() => seen.length === 3, 3000, "3 events");
    expect(seen.map((event) => event.data)).toEqual([
      '{"plan":\n {"id": 7}}',
      "line one\nline two\n",
      "split across chunks",
    ]);
    expect(seen[0]?.body).toEqual({ plan: { id: 7 } });
    await sleep(50);
    expect(seen).toHaveLength(3);
  });

  it("gives every event its name, including names the EventSource API reserves, and 'message' by default", async () => {
    server.manual("/events");
    app = createApp({ sse: { url: server.url } });
    const seen: SSEEvent[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    await app.start();
    server.send("/events", { event: "deployment_info", data: JSON.stringify({ plan: { id: "p1" } }) });
    server.send("/events", {
      event: "status_update_event",
      data: JSON.stringify({ appId: "a", taskStatus: "RUNNING" }),
    });
    server.send("/events", { data: "plain" });
    server.send("/events", { event: "error", data: "not a connection error" });
    server.send("/events", { event: "open", data: "{}" });
    server.send("/events", { event: "message", data: "explicit" });
    await waitFor(() => seen.length === 6, 3000, "6 events");
    expect(seen.map((event) => event.name)).toEqual([
      "deployment_info",
      "status_update_event",
      "message",
      "error",
      "open",
      "message",
    ]);
    expect(seen[0]?.body).toEqual({ plan: { id: "p1" } });
    // An event named "error" is data: the stream stayed up.
    expect(routeHealth(app)).toMatchObject({ connected: true, reconnects: 0 });
    expect(server.requestsTo("/events")).toHaveLength(1);
  });

  it("gives data that is not JSON as the string, and keeps going", async () => {
    server.manual("/events");
    app = createApp({ sse: { url: server.url } });
    const seen: SSEEvent[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    await app.start();
    for (const data of ["hello world", "{broken", "42", "", "-", "true", "[1,2]", '"quoted"', " {}"]) {
      server.send("/events", { data });
    }
    await waitFor(() => seen.length === 9, 3000, "9 events");
    expect(seen.map((event) => event.body)).toEqual([
      "hello world",
      "{broken",
      42,
      "",
      "-",
      true,
      [1, 2],
      "quoted",
      {},
    ]);
    expect(seen.map((event) => event.data)).toEqual([
      "hello world",
      "{broken",
      "42",
      "",
      "-",
      "true",
      "[1,2]",
      '"quoted"',
      " {}",
    ]);
  });

  it("gives each event its own id and the stream's last event id", async () => {
    server.manual("/events");
    app = createApp({ sse: { url: server.url } });
    const seen: SSEEvent[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    await app.start();
    server.send("/events", { data: "before any id" });
    server.send("/events", { id: "a-1", data: "1" });
    server.send("/events", { data: "no id" });
    server.send("/events", { id: "a-2", data: "2" });
    await waitFor(() => seen.length === 4, 3000, "4 events");
    expect(seen.map(({ id, lastEventId }) => [id, lastEventId])).toEqual([
      [undefined, ""],
      ["a-1", "a-1"],
      [undefined, "a-1"],
      ["a-2", "a-2"],
    ]);
    expect(routeHealth(app).lastEventId).toBe("a-2");
  });

  it("opens one stream per path at url + path, and tells each event its path", async () => {
    server.numbered("/api/a", { total: 4 });
    server.numbered("/api/b?topic=x", { total: 3 });
    app = createApp({ sse: { url: `${server.url}/api/` } });
    const seen: SSEEvent[] = [];
    app.route(["/a", "b?topic=x"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    await app.start();
    await waitFor(() => seen.length === 7, 3000, "7 events");
    expect(seen.filter((event) => event.path === "/a").map(n)).toEqual(range(1, 4));
    expect(seen.filter((event) => event.path === "b?topic=x").map(n)).toEqual(range(1, 3));
    expect(server.requestsTo("/api/a")).toHaveLength(1);
    expect(server.requestsTo("/api/b?topic=x")).toHaveLength(1);
  });

  it("lets a route's url override the app's", async () => {
    server.numbered("/events", { total: 2 });
    app = createApp({ sse: { url: "http://127.0.0.1:9/nowhere" } });
    const seen: number[] = [];
    app.route(["/events"], { type: RouteTypes.SSE, url: server.url }, async (events) => {
      seen.push(...events.map(n));
    });
    await app.start();
    await waitFor(() => seen.length === 2, 3000, "2 events");
    expect(seen).toEqual([1, 2]);
  });

  it("reports per route: connected, lastEventId, last event time, reconnects, ready", async () => {
    server.numbered("/events", { total: 5 });
    app = createApp({ sse: { url: server.url } });
    let handled = 0;
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      handled += events.length;
    });
    const before = Date.now();
    await app.start();
    await waitFor(() => handled === 5, 3000, "5 events");
    const health = routeHealth(app);
    expect(health).toMatchObject({
      name: "/events",
      ready: true,
      connected: true,
      lastEventId: "5",
      reconnects: 0,
    });
    expect(Date.parse(String(health.lastEventAt))).toBeGreaterThanOrEqual(before - 5);
    expect(health.streams[0]).toMatchObject({
      path: "/events",
      url: `${server.url}/events`,
      lastError: null,
    });
    expect(app.health().ready).toBe(true);
    await app.stop();
    expect(routeHealth(app)).toMatchObject({ ready: false, connected: false });
    await waitFor(() => server.clients("/events") === 0, 2000, "the connection to close");
  });
});
