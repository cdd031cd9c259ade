import { createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes, type SSEEvent } from "../../src/index.js";
import type { Backoff } from "../../src/utils/index.js";
import { captureLogs, createApp, routeHealth, SSETestServer, sleep, waitFor } from "./sse-test-server.js";

const n = (event: SSEEvent): number => (event.body as { n: number }).n;
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const fast = { floor: 10, ceiling: 40 };

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("SSE reconnects", () => {
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

  for (const abrupt of [false, true]) {
    it(`delivers every event exactly once, in order, when the server ${abrupt ? "resets" : "ends"} the connection mid-stream 5 times`, async () => {
      server.numbered("/events", { total: 60, dropAfter: [7, 19, 20, 33, 50], abrupt });
      app = createApp({ sse: { url: server.url, reconnect: fast } });
      const seen: number[] = [];
      app.route(
        ["/events"],
        { type: RouteTypes.SSE, options: { bulkSize: 4, bulkFlushInterval: 50 } },
        async (events) => {
          seen.push(...events.map(n));
        },
      );
      await app.start();
      await waitFor(() => seen.length >= 60, 5000, "60 events");
      await sleep(50);
      expect(seen).toEqual(range(1, 60));
      // Each reconnection resumed from the last event received, not from the last one handled.
      expect(server.requestsTo("/events").map((request) => request.headers["last-event-id"])).toEqual([
        undefined,
        "7",
        "19",
        "20",
        "33",
        "50",
      ]);
      expect(routeHealth(app)).toMatchObject({
        reconnects: 5,
        connected: true,
        ready: true,
        lastEventId: "60",
      });
    });
  }

  it("hands a partial bulk over as soon as the stream drops, without waiting for bulkFlushInterval", async () => {
    server.numbered("/events", { total: 3, dropAfter: [3] });
    app = createApp({ sse: { url: server.url, reconnect: { floor: 5000, ceiling: 5000 } } });
    const bulks: number[][] = [];
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { bulkSize: 100, bulkFlushInterval: 60_000 } },
      async (events) => {
        bulks.push(events.map(n));
      },
    );
    await app.start();
    await waitFor(() => bulks.length === 1, 2000, "the flush on disconnect");
    expect(bulks).toEqual([[1, 2, 3]]);
    expect(routeHealth(app)).toMatchObject({ connected: false, ready: false });
  });

  for (const [status, code] of [
    [401, "WEIR_ERR_SSE_AUTH"],
    [403, "WEIR_ERR_SSE_AUTH"],
    [404, "WEIR_ERR_SSE_NOT_FOUND"],
    [503, "WEIR_ERR_SSE_HTTP_STATUS"],
  ] as const) {
    it(`retries with backoff after HTTP ${status}, reports the stream down meanwhile, then consumes once it gets 200`, async () => {
      let refuse = true;
      server.gate(
        "/events",
        () => (refuse ? status : undefined),
        (response, request) => {
          response.writeHead(200, { "content-type": "text/event-stream" });
          response.write(
            `id: 1\ndata: ${JSON.stringify({ n: 1, auth: request.headers.authorization ?? null })}\n\n`,
          );
        },
      );
      const logs = captureLogs("warn");
      app = createApp({ logger: logs.logger, sse: { url: server.url, reconnect: fast } });
      const seen: SSEEvent[] = [];
      app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
        seen.push(...events);
      });
      const started = app.start();
      await waitFor(() => server.requestsTo("/events").length >= 4, 3000, "several refused attempts");
      const down = routeHealth(app);
      expect(down).toMatchObject({ connected: false, ready: false });
      expect(down.streams[0]?.lastError).toMatchObject({ code });
      expect(down.streams[0]?.failures).toBeGreaterThanOrEqual(3);
      const refused = logs.lines.filter((line) => line.code === code);
      expect(refused.length).toBeGreaterThanOrEqual(3);
      // A refusal is a fact about the server, not broken code: its code and message, no stack.
      expect(refused.every((line) => typeof line.reason === "string" && line.err === undefined)).toBe(true);
      // Refusals that need a human are errors; a 503 is a transient warning.
      expect(refused.every((line) => line.level === (status === 503 ? 40 : 50))).toBe(true);
      expect(refused[0]).toMatchObject({ route: "/events", transport: "sse", path: "/events" });
      refuse = false;
      await started;
      await waitFor(() => seen.length === 1, 3000, "the event after the refusals");
      expect(routeHealth(app)).toMatchObject({ connected: true, ready: true });
      expect(routeHealth(app).streams[0]?.lastError).toBeNull();
    });
  }

  it("keeps the backoff capped at the ceiling while a server keeps refusing", async () => {
    server.gate(
      "/events",
      () => 401,
      () => {},
    );
    app = createApp({ sse: { url: server.url, reconnect: { floor: 5, ceiling: 30 } } });
    app.route(["/events"], { type: RouteTypes.SSE }, async () => {});
    void app.start().catch(() => {});
    await waitFor(() => server.requestsTo("/events").length >= 12, 4000, "12 attempts");
    const times = server.requestsTo("/events").map((request) => request.at);
    const gaps = times.slice(1).map((at, i) => at - (times[i] ?? at));
    // 2^11 * 5 ms uncapped would be 10 s; capped at 30 ms (plus scheduling slack).
    expect(Math.max(...gaps.slice(6))).toBeLessThan(250);
  });

  it("waits at least the server's retry: before reconnecting", async () => {
    server.numbered("/slow", { total: 4, dropAfter: [2], retry: 400 });
    server.numbered("/fast", { total: 4, dropAfter: [2] });
    app = createApp({ sse: { url: server.url, reconnect: fast } });
    const seen: SSEEvent[] = [];
    app.route(["/slow", "/fast"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events);
    });
    await app.start();
    await waitFor(() => seen.length === 8, 3000, "8 events");
    const gap = (path: string): number => {
      const [first, second] = server.requestsTo(path);
      return (second?.at ?? 0) - (first?.at ?? 0);
    };
    expect(gap("/slow")).toBeGreaterThanOrEqual(380);
    expect(gap("/fast")).toBeLessThan(300);
  });

  it("restarts the backoff after a successful connection", async () => {
    let requests = 0;
    server.gate(
      "/events",
      () => (++requests <= 3 ? 401 : undefined),
      (response, request) => {
        response.writeHead(200, { "content-type": "text/event-stream" });
        const last = Number(request.headers["last-event-id"] ?? 0);
        if (last === 0) response.end("id: 1\ndata: 1\n\n");
        else response.write("id: 2\ndata: 2\n\n");
      },
    );
    const asked: number[] = [];
    const backoff: Backoff = {
      get(attempt) {
        asked.push(attempt);
        return 10;
      },
    };
    app = createApp({ sse: { url: server.url, reconnect: backoff } });
    const seen: string[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events.map((event) => event.data));
    });
    await app.start();
    await waitFor(() => seen.length === 2, 3000, "2 events");
    // Three refusals (attempts 1, 2, 3), a connection that ends, then attempt 1 again.
    expect(asked).toEqual([1, 2, 3, 1]);
    expect(seen).toEqual(["1", "2"]);
  });

  it("reconnects when nothing arrives for idleTimeout, but not while keep-alives arrive", async () => {
    server.manual("/silent");
    server.manual("/chatty");
    const keepAlive = setInterval(() => server.write("/chatty", ": ping\n"), 40);
    try {
      app = createApp({ sse: { url: server.url, reconnect: fast, idleTimeout: 250 } });
      app.route(["/silent", "/chatty"], { type: RouteTypes.SSE }, async () => {});
      await app.start();
      await waitFor(() => server.requestsTo("/silent").length >= 2, 3000, "a reconnect of the silent stream");
      const [first, second] = server.requestsTo("/silent");
      expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(230);
      await sleep(300);
      expect(server.requestsTo("/chatty")).toHaveLength(1);
    } finally {
      clearInterval(keepAlive);
    }
  });

  it("keeps retrying an unreachable server, and stop() during start ends it", async () => {
    const port = await closedPort();
    app = createApp({ sse: { url: `http://127.0.0.1:${port}`, reconnect: fast } });
    app.route(["/events"], { type: RouteTypes.SSE }, async () => {});
    const started = app.start();
    await waitFor(() => Number(routeHealth(app as App).streams[0]?.failures) >= 2, 3000, "2 failed attempts");
    expect(routeHealth(app).streams[0]?.lastError).toMatchObject({ code: "WEIR_ERR_SSE_NETWORK" });
    const stopping = app.stop();
    await expect(started).rejects.toMatchObject({ code: "WEIR_ERR_STOPPED_DURING_START" });
    await stopping;
  });

  it("after the stream connected once, a response that is not text/event-stream is a failed attempt, retried", async () => {
    let html = false;
    server.handle("/events", (response) => {
      if (html) {
        response.writeHead(200, { "content-type": "text/html" });
        response.end("<html></html>");
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
      response.write("data: ok\n\n");
    });
    app = createApp({ sse: { url: server.url, reconnect: fast } });
    const seen: string[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events.map((event) => event.data));
    });
    await app.start();
    await waitFor(() => seen.length === 1, 3000, "the first event");
    html = true; // a deploy serves a maintenance page for a while
    server.dropAll("/events");
    await waitFor(() => server.requestsTo("/events").length >= 3, 3000, "retries");
    expect(routeHealth(app).streams[0]?.lastError).toMatchObject({ code: "WEIR_ERR_SSE_CONTENT_TYPE" });
    html = false;
    await waitFor(() => seen.length === 2, 3000, "the event after the fix");
    expect(seen).toEqual(["ok", "ok"]);
  });
});
