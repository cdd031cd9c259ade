import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { createApp, routeHealth, SSETestServer, waitFor } from "./sse-test-server.js";

/**
 * Issue #14, kind 1: media types compared case-sensitively. `Text/Event-Stream` is an event stream
 * (RFC 9110 §8.3.1); a response that is not one is refused with the code that names why.
 */
describe("SSE response media types (issue #14)", () => {
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

  for (const type of [
    "Text/Event-Stream",
    "TEXT/EVENT-STREAM;charset=UTF-8",
    "text/event-stream ; charset=utf-8",
  ]) {
    it(`media types compared case-sensitively: consumes a stream served as "${type}"`, async () => {
      server.handle("/events", (response) => {
        response.writeHead(200, { "content-type": type });
        response.write('id: 1\ndata: {"n":1}\n\n');
      });
      app = createApp({ sse: { url: server.url, reconnect: { floor: 10, ceiling: 40 } } });
      const seen: unknown[] = [];
      app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
        seen.push(...events.map((event) => event.body));
      });
      await app.start();
      await waitFor(() => seen.length === 1, 3000, "the event");
      expect(seen).toEqual([{ n: 1 }]);
      expect(routeHealth(app)).toMatchObject({ connected: true, ready: true });
      expect(server.requestsTo("/events")).toHaveLength(1);
    });
  }

  it("a stream that answers 200 with another media type makes start() reject with WEIR_ERR_SSE_CONTENT_TYPE, at once", async () => {
    server.handle("/events", (response) => {
      response.writeHead(200, { "content-type": "Text/HTML; charset=utf-8" });
      response.end("<html>an SPA's fallback page</html>");
    });
    app = createApp({ sse: { url: server.url, reconnect: { floor: 10, ceiling: 40 } } });
    app.route(["/events"], { type: RouteTypes.SSE }, async () => {});
    const startedAt = Date.now();
    const error = await app.start().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({
      code: "WEIR_ERR_SSE_CONTENT_TYPE",
      message: expect.stringContaining("Text/HTML; charset=utf-8"),
    });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    expect(server.requestsTo("/events")).toHaveLength(1);
  });
});
