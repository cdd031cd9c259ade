import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { createApp, SSETestServer, waitFor } from "../sse/sse-test-server.js";
import { ready, sampleValue, scrape } from "./helpers.js";

describe("/ready and /metrics for SSE routes", () => {
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

  it("is not ready while a stream is disconnected, and reports its state as gauges", async () => {
    let refuse = false;
    server.gate(
      "/events",
      () => (refuse ? 503 : undefined),
      (response) => {
        response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        response.write(": connected\n\n");
      },
    );
    app = createApp({
      sse: { url: server.url },
      http: { port: 0 },
      observability: { health: true, metrics: { defaultMetrics: false } },
    });
    let handled = 0;
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, reconnect: { floor: 50, ceiling: 200 } },
      async (events) => {
        handled += events.length;
      },
    );
    await app.start();
    expect((await ready(app)).status).toBe(200);
    server.send("/events", { id: 1, data: JSON.stringify({ n: 1 }) });
    await waitFor(() => handled === 1, 3000, "the event");

    const sse = { transport: "sse", route: "/events" };
    const before = (await scrape(app)).samples;
    expect(sampleValue(before, "weir_route_ready", sse)).toBe(1);
    expect(sampleValue(before, "weir_messages_in_flight", sse)).toBe(0);
    expect(sampleValue(before, "weir_time_since_last_delivery_seconds", sse)).toBeLessThan(30);
    expect(sampleValue(before, "weir_reconnects_total", sse)).toBe(0);
    expect(sampleValue(before, "weir_messages_received_total", sse)).toBe(1);
    expect(sampleValue(before, "weir_messages_settled_total", { ...sse, outcome: "ack" })).toBe(1);
    expect(sampleValue(before, "weir_bulk_size_count", sse)).toBe(1);

    refuse = true;
    server.dropAll("/events");
    const target = app;
    await waitFor(() => target.health().ready === false, 3000, "not ready");
    const down = await ready(app);
    expect(down.status).toBe(503);
    expect(down.body.notReady).toEqual([
      { transport: "sse", route: "/events", details: expect.objectContaining({ connected: false }) },
    ]);
    expect(sampleValue((await scrape(app)).samples, "weir_ready")).toBe(0);

    refuse = false;
    await waitFor(() => target.health().ready, 5000, "ready again");
    expect((await ready(app)).status).toBe(200);
    expect(sampleValue((await scrape(app)).samples, "weir_reconnects_total", sse)).toBeGreaterThanOrEqual(1);
  });
});
