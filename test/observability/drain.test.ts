import { request } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { parseMetrics, sampleValue, urlOf } from "./helpers.js";

/** What one request on a fresh connection (as a kubelet probe makes) got: a status, or a socket error. */
interface Probe {
  readonly path: string;
  readonly sentAt: number;
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
}

/** GET on a new TCP connection (no agent, no keep-alive), bounded to 2 s. */
function probe(base: string, path: string): Promise<Probe> {
  const sentAt = Date.now();
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { agent: false, timeout: 2_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({ path, sentAt, status: response.statusCode, body: Buffer.concat(chunks).toString() }),
      );
      response.on("error", (error: NodeJS.ErrnoException) => resolve({ path, sentAt, error: error.code }));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ path, sentAt, error: error.code ?? "?" }));
    req.end();
  });
}

const PROBED = ["/health", "/ready", "/metrics", "/work"] as const;

describe("probes during a graceful stop (issue 14.6: probes that go dark while draining)", () => {
  let broker: Broker;
  const apps: App[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await broker.close();
  });

  it("answers /health 200, /ready 503 stopping and /metrics (final counters) through a 3 s AMQP drain; refuses connections only after", async () => {
    const DRAIN_MS = 3_000;
    const HOOK_MS = 400;
    const queue = await broker.queue(uniqueName("drain-probes"));
    const app = createApp({
      name: uniqueName("drain-probes-app"),
      shutdownTimeout: 10_000,
      http: { port: 0 },
      observability: { health: true, metrics: true },
    });
    apps.push(app);
    let entered = false;
    let handlerDoneAt = Number.POSITIVE_INFINITY;
    app.route([queue], { type: RouteTypes.AMQP }, async () => {
      entered = true;
      await sleep(DRAIN_MS);
      handlerDoneAt = Date.now();
    });
    let userRouteCalls = 0;
    app.http.get("/work", async () => {
      userRouteCalls++;
      return "worked";
    });
    // A shutdown hook that takes a while (a pool closing): the endpoints are still up while it runs.
    let hookEndedAt = Number.POSITIVE_INFINITY;
    app.onShutdown(async () => {
      await sleep(HOOK_MS);
      hookEndedAt = Date.now();
    });
    await app.start();
    const base = urlOf(app);
    expect((await probe(base, "/work")).status).toBe(200);
    userRouteCalls = 0;

    await broker.publish(queue, [{ n: 1 }]);
    await waitFor(() => entered, 5_000, "the handler to start");
    const stopBegan = Date.now();
    let stopped = false;
    const stopping = app.stop().then(() => {
      stopped = true;
    });
    const samples: Probe[] = [];
    // Bounded: the stop takes ~3.5 s; 200 rounds of ≥ 50 ms is at least 10 s.
    for (let round = 0; round < 200 && !stopped; round++) {
      samples.push(...(await Promise.all(PROBED.map((path) => probe(base, path)))));
      await sleep(50);
    }
    await stopping;
    const stopEndedAt = Date.now();

    // Everything sent before the last shutdown hook ended was answered: nothing closed early.
    const beforeEnd = samples.filter((sample) => sample.sentAt < hookEndedAt);
    const during = (path: string) => beforeEnd.filter((sample) => sample.path === path);
    expect(during("/health").length).toBeGreaterThanOrEqual(10);
    // The drain really lasted: the handler ran ~3 s after stop() began.
    expect(handlerDoneAt - stopBegan).toBeGreaterThanOrEqual(DRAIN_MS - 200);
    expect(stopEndedAt).toBeGreaterThanOrEqual(hookEndedAt);
    for (const sample of during("/health")) {
      expect(sample).toMatchObject({ status: 200 });
      expect(JSON.parse(sample.body ?? "")).toEqual({ status: "ok" });
    }
    for (const sample of during("/ready")) {
      expect(sample).toMatchObject({ status: 503 });
      expect(JSON.parse(sample.body ?? "")).toMatchObject({ ready: false, status: "stopping" });
    }
    for (const sample of during("/metrics")) expect(sample).toMatchObject({ status: 200 });
    // The user route stopped taking requests when the stop began.
    for (const sample of during("/work")) expect(sample.status ?? sample.error).not.toBe(200);
    expect(userRouteCalls).toBe(0);
    // A scrape after the handler ended shows the final counters: the message acked.
    const finalScrape = during("/metrics").filter((sample) => sample.sentAt > handlerDoneAt);
    expect(finalScrape.length).toBeGreaterThanOrEqual(1);
    const last = parseMetrics(finalScrape.at(-1)?.body ?? "");
    expect(sampleValue(last, "weir_messages_settled_total", { route: queue, outcome: "ack" })).toBe(1);
    expect(sampleValue(last, "weir_messages_in_flight", { route: queue })).toBe(0);
    // Once stop() has resolved, the port is closed.
    expect((await probe(base, "/health")).error).toBe("ECONNREFUSED");
  });
});
