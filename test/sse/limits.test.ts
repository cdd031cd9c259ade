import type { ServerResponse } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes, type SSEEvent } from "../../src/index.js";
import {
  captureLogs,
  createApp,
  frame,
  routeHealth,
  SSETestServer,
  sleep,
  waitFor,
} from "./sse-test-server.js";

const MiB = 1024 * 1024;
const n = (event: SSEEvent): number => (event.body as { n: number }).n;

/**
 * Writes `total` bytes of one `data:` line that never ends, 1 MiB at a time, honouring the socket's
 * backpressure (so the server holds one chunk, not 300 MB); stops when the client goes away.
 * Resolves with the bytes the socket accepted.
 */
async function endlessLine(response: ServerResponse, total: number): Promise<number> {
  const chunk = Buffer.alloc(MiB, "a");
  let written = 0;
  response.write("data: ");
  while (written < total && !response.destroyed && response.writable) {
    const more = response.write(chunk);
    written += chunk.length;
    if (!more) {
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => response.once("drain", () => resolve(true))),
        new Promise<boolean>((resolve) => response.once("close", () => resolve(false))),
      ]);
      if (!drained) break;
    }
  }
  return written;
}

describe("SSE input bounds (issue 15.5: unbounded input on the other transports)", () => {
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

  it("drops a connection whose event grows past maxEventSize (a 300 MB line, no newline), logs it with a code, and resumes from the last id; RSS stays bounded", async () => {
    const TOTAL = 300 * MiB;
    let sent: Promise<number> | undefined;
    server.handle("/huge", (response, request) => {
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      if (request.headers["last-event-id"] === undefined) {
        response.write(
          frame({ id: 1, data: JSON.stringify({ n: 1 }) }) + frame({ id: 2, data: JSON.stringify({ n: 2 }) }),
        );
        sent = endlessLine(response, TOTAL);
        return;
      }
      const from = Number(request.headers["last-event-id"]);
      for (let i = from + 1; i <= 4; i++) response.write(frame({ id: i, data: JSON.stringify({ n: i }) }));
    });
    const { logger, lines } = captureLogs();
    app = createApp({ logger, sse: { url: server.url, reconnect: { floor: 10, ceiling: 40 } } });
    const seen: number[] = [];
    app.route(["/huge"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events.map(n));
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    const began = Date.now();
    try {
      await app.start();
      await waitFor(() => seen.length >= 4, 30_000, "events 1 to 4");
    } finally {
      clearInterval(sampler);
    }
    const elapsed = Date.now() - began;
    const written = await (sent ?? Promise.resolve(0));
    console.log(
      `SSE 300 MB line: RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB ` +
        `(+${((peak - before) / MiB).toFixed(0)} MiB), server wrote ${(written / MiB).toFixed(0)} MiB, ${elapsed} ms`,
    );
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(server.requestsTo("/huge").map((request) => request.headers["last-event-id"])).toEqual([
      undefined,
      "2",
    ]);
    const dropped = lines.find((line) => line.code === "WEIR_ERR_SSE_EVENT_TOO_LARGE");
    expect(dropped).toMatchObject({ level: 50, path: "/huge", lastEventId: "2" });
    // The client read about maxEventSize (1 MiB by default) plus what the socket buffers, not 300 MB.
    expect(written).toBeLessThan(64 * MiB);
    expect(peak - before).toBeLessThan(64 * MiB);
    expect(elapsed).toBeLessThan(10_000);
    await sleep(20);
    expect(routeHealth(app)).toMatchObject({ connected: true, reconnects: 1 });
  }, 60_000);

  it("takes an event just under maxEventSize, and counts an event's lines, not one line (many data: lines)", async () => {
    server.manual("/lines");
    const { logger, lines } = captureLogs();
    app = createApp({
      logger,
      sse: { url: server.url, reconnect: { floor: 10, ceiling: 40 }, maxEventSize: 4096 },
    });
    const sizes: number[] = [];
    app.route(["/lines"], { type: RouteTypes.SSE }, async (events) => {
      for (const event of events) sizes.push(event.data.length);
    });
    await app.start();
    // 3,000 bytes of data in one event: under the bound, with its comment lines not counted.
    server.write("/lines", `: ${"k".repeat(3000)}\nid: 1\ndata: ${"x".repeat(3000)}\n\n`);
    await waitFor(() => sizes.length === 1, 5000, "the event under the bound");
    // 100 lines of 60 bytes, never a blank line: one event of 6 KB, over the bound.
    server.write("/lines", `id: 2\n${`data: ${"y".repeat(54)}\n`.repeat(100)}`);
    await waitFor(
      () => lines.some((line) => line.code === "WEIR_ERR_SSE_EVENT_TOO_LARGE"),
      5000,
      "the oversized event to be refused",
    );
    await waitFor(() => server.requestsTo("/lines").length === 2, 5000, "the reconnect");
    expect(server.requestsTo("/lines")[1]?.headers["last-event-id"]).toBe("1");
    expect(sizes).toEqual([3000]);
  });

  it("refuses a maxEventSize that is not a positive number of bytes, at registration", () => {
    expect(() => createApp({ sse: { url: "http://127.0.0.1:1", maxEventSize: 0 } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "sse.maxEventSize" }),
    );
    const app = createApp({ sse: { url: "http://127.0.0.1:1" } });
    expect(() => app.route(["/x"], { type: RouteTypes.SSE, maxEventSize: -1 }, async () => {})).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "maxEventSize" }),
    );
  });
});
