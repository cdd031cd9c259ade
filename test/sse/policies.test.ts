import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type App, RouteTypes, type SSEEvent } from "../../src/index.js";
import { captureLogs, createApp, routeHealth, SSETestServer, sleep, waitFor } from "./sse-test-server.js";

/**
 * Issue #16: policies live in core, and SSE routes get them by declaring what SSE can do (no
 * redelivery, no broker to retry or dead-letter through). Against a real local SSE server.
 */
describe("SSE routes with core's policies (issue #16)", () => {
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

  it("schema: the handler gets the schema's output, typed; a failing event is dropped, told with its code", async () => {
    server.manual("/events");
    const logs = captureLogs("warn");
    app = createApp({ logger: logs.logger, sse: { url: server.url } });
    const Order = z.object({ id: z.number(), total: z.number().default(0) });
    const seen: Array<{ id: number; total: number }> = [];
    app.route(["/events"], { type: RouteTypes.SSE, schema: Order }, async (events) => {
      for (const event of events) seen.push(event.body); // typed from the schema: no cast
    });
    await app.start();
    server.send("/events", { id: 1, data: JSON.stringify({ id: 1 }) });
    server.send("/events", { id: 2, data: JSON.stringify({ id: "two" }) });
    server.send("/events", { id: 3, data: "not json at all" });
    server.send("/events", { id: 4, data: JSON.stringify({ id: 4, total: 9 }) });
    await waitFor(() => seen.length === 2, 3000, "the two valid events");
    await sleep(50);
    expect(seen).toEqual([
      { id: 1, total: 0 },
      { id: 4, total: 9 },
    ]);
    const refused = logs.lines.filter((line) => line.code === "WEIR_ERR_SCHEMA_VALIDATION");
    expect(refused.map((line) => line.eventId)).toEqual(["2", "3"]);
    expect(refused[0]).toMatchObject({ level: 40, route: "/events", path: "/events" });
    expect(routeHealth(app)).toMatchObject({ handled: 2, failedBulks: 0, ready: true });
  });

  it("retry re-runs a failing handler on a route with a schema too (the policy path)", async () => {
    server.manual("/events");
    app = createApp({ sse: { url: server.url } });
    const Order = z.object({ id: z.number() });
    const calls: number[] = [];
    let failuresLeft = 2;
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, schema: Order, options: { retry: { maxAttempts: 3, backoff: 10 } } },
      async (events) => {
        for (const event of events) calls.push(event.body.id);
        if (failuresLeft-- > 0) throw new Error("transient");
      },
    );
    await app.start();
    server.send("/events", { id: 1, data: JSON.stringify({ id: 1 }) });
    server.send("/events", { id: 2, data: JSON.stringify({ id: 2 }) });
    await waitFor(() => calls.length === 4, 3000, "3 calls on event 1, then event 2");
    await sleep(50);
    expect(calls).toEqual([1, 1, 1, 2]);
    expect(routeHealth(app)).toMatchObject({ handled: 2, failedBulks: 0, ready: true });
  });

  it("once: events a server replays after a reconnect reach the handler once", async () => {
    // A server that resumes badly: the first connection sends 1..3 and ends; the reconnect gets
    // 2 and 3 again, then 4.
    let connections = 0;
    server.handle("/events", (response) => {
      connections++;
      response.writeHead(200, { "content-type": "text/event-stream" });
      const ids = connections === 1 ? [1, 2, 3] : [2, 3, 4];
      const text = ids.map((id) => `id: ${id}\ndata: e${id}\n\n`).join("");
      if (connections === 1) response.end(text);
      else response.write(text);
    });
    app = createApp({ sse: { url: server.url, reconnect: { floor: 10, ceiling: 50 } } });
    const seen: string[] = [];
    app.route(["/events"], { type: RouteTypes.SSE, once: { ttl: 60_000 } }, async (events) => {
      for (const event of events) seen.push(String(event.id));
    });
    await app.start();
    await waitFor(() => seen.includes("4"), 3000, "event 4");
    await sleep(50);
    expect(seen).toEqual(["1", "2", "3", "4"]);
    expect(routeHealth(app)).toMatchObject({ duplicates: 2, handled: 6 });
  });

  it("a handler's decisions win: a rejected event is not handled, an accepted one is even when the call fails", async () => {
    server.numbered("/events", { total: 3 });
    app = createApp({ sse: { url: server.url } });
    const calls: string[][] = [];
    app.route(["/events"], { type: RouteTypes.SSE, options: { bulkSize: 3 } }, async (events: SSEEvent[]) => {
      calls.push(events.map((event) => String(event.id)));
      events[0]!.accept();
      events[1]!.reject({ requeue: false });
      throw new Error("the third one failed");
    });
    await app.start();
    await waitFor(() => calls.length === 1 && routeHealth(app as App).failedBulks === 1, 3000, "the bulk");
    expect(calls).toEqual([["1", "2", "3"]]);
    expect(routeHealth(app)).toMatchObject({ handled: 1, failedBulks: 1 });
  });

  it("m.retry() on SSE throws WEIR_ERR_RETRY_NOT_CONFIGURED: there is no broker to retry through", async () => {
    server.numbered("/events", { total: 1 });
    app = createApp({ sse: { url: server.url } });
    let code: unknown;
    app.route(["/events"], { type: RouteTypes.SSE }, async ([event]) => {
      try {
        event!.retry();
      } catch (error) {
        code = (error as { code?: unknown }).code;
      }
    });
    await app.start();
    await waitFor(() => code !== undefined, 3000, "the call");
    expect(code).toBe("WEIR_ERR_RETRY_NOT_CONFIGURED");
  });
});
