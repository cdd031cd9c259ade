import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { createApp, routeHealth, SSETestServer, sleep, waitFor } from "./sse-test-server.js";

/** Issue #15, kind 3: the per-call `timeout` is core's, so SSE routes get it too. */
describe("SSE handler timeout (issue #15)", () => {
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

  it("slow handler: a call past its timeout aborts its signal, is retried, then given up, and the next events flow", async () => {
    server.numbered("/events", { total: 3 });
    app = createApp({ sse: { url: server.url }, shutdownTimeout: 1000 });
    const calls: { n: number; at: number }[] = [];
    const aborted: unknown[] = [];
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, options: { timeout: 200, retry: { maxAttempts: 2, backoff: 10 } } },
      async (events, { signal }) => {
        const n = (events[0]!.body as { n: number }).n;
        calls.push({ n, at: Date.now() });
        if (n !== 1) return;
        signal.addEventListener("abort", () => aborted.push(signal.reason));
        await sleep(3000); // ignores its signal: the call is abandoned, not awaited
      },
    );
    await app.start();
    await waitFor(() => calls.filter((call) => call.n === 3).length === 1, 3000, "event 3");
    expect(calls.map((call) => call.n)).toEqual([1, 1, 2, 3]);
    expect(calls[2]!.at - calls[0]!.at).toBeLessThan(1500);
    expect(aborted).toHaveLength(2);
    expect(aborted[0]).toMatchObject({ code: "WEIR_ERR_HANDLER_TIMEOUT" });
    expect(routeHealth(app)).toMatchObject({ failedBulks: 1, handled: 2 });
  });
});
