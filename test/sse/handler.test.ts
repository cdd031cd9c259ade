import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes, type SSEEvent } from "../../src/index.js";
import { captureLogs, createApp, routeHealth, SSETestServer, sleep, waitFor } from "./sse-test-server.js";

const n = (event: SSEEvent): number => (event.body as { n: number }).n;
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const errCode = (line: Record<string, unknown>): unknown => (line.err as { code?: string } | undefined)?.code;

describe("SSE handlers", () => {
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

  it('logs a failing bulk with the route and its event ids and goes on ("continue", the default)', async () => {
    server.numbered("/events", { total: 8 });
    const logs = captureLogs("warn");
    app = createApp({ logger: logs.logger, sse: { url: server.url } });
    const calls: number[][] = [];
    app.route(["/events"], { type: RouteTypes.SSE, options: { bulkSize: 2 } }, async (events) => {
      calls.push(events.map(n));
      if (events.some((event) => n(event) === 4)) throw new Error("boom on 4");
    });
    await app.start();
    await waitFor(() => calls.length === 4, 3000, "4 bulks");
    expect(calls).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ]);
    const failure = logs.lines.find((line) => errCode(line) === "WEIR_ERR_SSE_HANDLER_FAILED");
    expect(failure).toMatchObject({
      level: 50,
      route: "/events",
      transport: "sse",
      eventIds: ["3", "4"],
      attempts: 1,
    });
    expect(JSON.stringify(failure)).toContain("boom on 4");
    expect(routeHealth(app)).toMatchObject({ ready: true, failedBulks: 1, handled: 6 });
  });

  it('stops the stream and reports not ready on a failure with onException: "stop"', async () => {
    server.numbered("/events", { total: 10 });
    const logs = captureLogs("warn");
    app = createApp({ logger: logs.logger, sse: { url: server.url } });
    const seen: number[] = [];
    app.route(["/events"], { type: RouteTypes.SSE, options: { onException: "stop" } }, async (events) => {
      seen.push(...events.map(n));
      await sleep(10);
      if (events.some((event) => n(event) === 3)) throw new Error("cannot go on");
    });
    await app.start();
    await waitFor(() => routeHealth(app as App).ready === false, 3000, "the route to stop");
    await waitFor(() => server.clients("/events") === 0, 3000, "the stream to close");
    await sleep(100);
    // Nothing after the failed event reached the handler, and weir did not reconnect.
    expect(seen).toEqual([1, 2, 3]);
    expect(server.requestsTo("/events")).toHaveLength(1);
    expect(routeHealth(app)).toMatchObject({
      ready: false,
      connected: false,
      stoppedByException: { code: "WEIR_ERR_SSE_HANDLER_FAILED" },
    });
    expect(app.health().ready).toBe(false);
    expect(logs.lines.find((line) => errCode(line) === "WEIR_ERR_SSE_HANDLER_FAILED")).toMatchObject({
      eventIds: ["3"],
      onException: "stop",
    });
  });

  it("re-runs the handler on the same bulk (retry with a fixed delay) before going on", async () => {
    server.numbered("/events", { total: 4 });
    app = createApp({ sse: { url: server.url } });
    const calls: { ids: number[]; at: number }[] = [];
    let failuresLeft = 2;
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { bulkSize: 2, retry: { maxAttempts: 3, backoff: 60 } } },
      async (events) => {
        calls.push({ ids: events.map(n), at: Date.now() });
        if (n(events[0] as SSEEvent) === 1 && failuresLeft-- > 0) throw new Error("transient");
      },
    );
    await app.start();
    await waitFor(() => calls.length === 4, 3000, "4 calls");
    expect(calls.map((call) => call.ids)).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
      [3, 4],
    ]);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(55);
    expect((calls[2]?.at ?? 0) - (calls[1]?.at ?? 0)).toBeGreaterThanOrEqual(55);
    expect(routeHealth(app)).toMatchObject({ failedBulks: 0, handled: 4 });
  });

  it("asks a Backoff for each re-run's delay and gives up after maxAttempts", async () => {
    server.numbered("/events", { total: 2 });
    const logs = captureLogs("warn");
    app = createApp({ logger: logs.logger, sse: { url: server.url } });
    const asked: number[] = [];
    const calls: number[][] = [];
    app.route(
      ["/events"],
      {
        type: RouteTypes.SSE,
        options: {
          retry: {
            maxAttempts: 3,
            backoff: {
              get(attempt: number) {
                asked.push(attempt);
                return 5;
              },
            },
          },
        },
      },
      async (events) => {
        calls.push(events.map(n));
        if (n(events[0] as SSEEvent) === 1) throw new Error("always");
      },
    );
    await app.start();
    await waitFor(() => calls.length === 4, 3000, "4 calls");
    expect(calls).toEqual([[1], [1], [1], [2]]);
    expect(asked).toEqual([1, 2]);
    expect(
      logs.lines.filter((line) => line.msg === "handler failed; re-running it on the same events"),
    ).toHaveLength(2);
    expect(logs.lines.find((line) => errCode(line) === "WEIR_ERR_SSE_HANDLER_FAILED")).toMatchObject({
      attempts: 3,
      eventIds: ["1"],
    });
  });

  it("stop() closes the stream, flushes the partial bulk and waits for the handler", async () => {
    server.numbered("/events", { total: 3 });
    app = createApp({ sse: { url: server.url } });
    const bulks: number[][] = [];
    let finished = false;
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { bulkSize: 10, bulkFlushInterval: 60_000 } },
      async (events) => {
        bulks.push(events.map(n));
        await sleep(200);
        finished = true;
      },
    );
    await app.start();
    await waitFor(() => routeHealth(app as App).lastEventId === "3", 3000, "3 events received");
    expect(bulks).toEqual([]);
    await app.stop();
    expect(bulks).toEqual([[1, 2, 3]]);
    expect(finished).toBe(true);
    await waitFor(() => server.clients("/events") === 0, 2000, "the connection to close");
  });

  it("stop() gives up on a handler that outlives the shutdown deadline", async () => {
    server.numbered("/events", { total: 1 });
    app = createApp({ shutdownTimeout: 300, sse: { url: server.url } });
    let entered = false;
    app.route(["/events"], { type: RouteTypes.SSE }, async () => {
      entered = true;
      await sleep(3000);
    });
    await app.start();
    await waitFor(() => entered, 3000, "the handler");
    const stopAt = Date.now();
    await app.stop();
    expect(Date.now() - stopAt).toBeLessThan(1500);
  });

  it("runs at most `concurrency` bulks at once and starts them in stream order", async () => {
    server.numbered("/events", { total: 8 });
    app = createApp({ sse: { url: server.url } });
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    app.route(["/events"], { type: RouteTypes.SSE, options: { concurrency: 3 } }, async (events) => {
      started.push(...events.map(n));
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(40);
      running--;
    });
    await app.start();
    await waitFor(() => started.length === 8 && running === 0, 3000, "8 events");
    expect(started).toEqual(range(1, 8));
    expect(maxRunning).toBe(3);
  });

  it("stops reading the stream while maxPending events wait for a slow handler, and loses nothing", async () => {
    const total = 300;
    server.handle("/events", (response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      let next = 1;
      const pace = setInterval(() => {
        for (const end = Math.min(next + 3, total + 1); next < end; next++) {
          response.write(`id: ${next}\ndata: {"n":${next}}\n\n`);
        }
        if (next > total) clearInterval(pace);
      }, 2);
      response.on("close", () => clearInterval(pace));
    });
    app = createApp({ sse: { url: server.url } });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen: number[] = [];
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { bulkSize: 5, maxPending: 20 } },
      async (events) => {
        await gate;
        seen.push(...events.map(n));
      },
    );
    await app.start();
    await waitFor(() => routeHealth(app as App).backpressure === true, 3000, "backpressure");
    await sleep(400); // the server has written everything by now; weir must not have read it
    const received = Number(routeHealth(app).lastEventId);
    expect(received).toBeGreaterThanOrEqual(20);
    expect(received).toBeLessThan(total / 2);
    expect(routeHealth(app)).toMatchObject({ connected: true, backpressure: true });
    release();
    await waitFor(() => seen.length === total, 5000, `${total} events`);
    expect(seen).toEqual(range(1, total));
    expect(routeHealth(app).backpressure).toBe(false);
  });

  it("runs one bulk at a time by default, so a stream's events are handled strictly in order", async () => {
    server.numbered("/events", { total: 6 });
    app = createApp({ sse: { url: server.url } });
    const log: string[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      const id = n(events[0] as SSEEvent);
      log.push(`start ${id}`);
      await sleep(7 - id);
      log.push(`end ${id}`);
    });
    await app.start();
    await waitFor(() => log.length === 12, 3000, "6 events");
    expect(log).toEqual(range(1, 6).flatMap((id) => [`start ${id}`, `end ${id}`]));
  });
});
