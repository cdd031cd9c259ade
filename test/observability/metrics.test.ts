import { writeFileSync } from "node:fs";
import { Histogram } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, type App, RouteTypes, timeitToHistogram } from "../../src/index.js";
import { Timeit } from "../../src/utils/index.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";
import { parseMetrics, sampleValue, scrape, urlOf } from "./helpers.js";

describe("/metrics", () => {
  let broker: Broker;
  const apps: App[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await broker.close();
  });

  it("counts a known workload exactly: received, settled by outcome, handler calls, bulks, publishes, HTTP", async () => {
    const ACKED = 7;
    const REQUEUED = 3;
    const FAILING = 2;
    const PUBLISHED = 4;
    const mixed = await broker.queue(uniqueName("metrics-mixed"));
    const failing = await broker.queue(uniqueName("metrics-failing"));
    const target = await broker.queue(uniqueName("metrics-target"));
    const app = createApp({
      name: uniqueName("metrics-app"),
      http: { port: 0 },
      observability: { metrics: true },
    });
    apps.push(app);

    let mixedCalls = 0;
    let mixedMessages = 0;
    app.route(
      [mixed],
      { type: RouteTypes.AMQP, options: { bulkSize: 5, bulkFlushInterval: 50 } },
      async (messages: AMQPMessage<{ requeue: boolean }>[]) => {
        mixedCalls++;
        mixedMessages += messages.length;
        // Requeued once, acked when it comes back: a known number of requeues, and no loop.
        for (const m of messages) if (m.body.requeue && !m.redelivered) m.reject({ requeue: true });
      },
    );
    let failingCalls = 0;
    app.route([failing], { type: RouteTypes.AMQP, options: { onException: "reject" } }, async () => {
      failingCalls++;
      throw new Error("always fails");
    });
    app.http.get("/items/:id", async () => ({ ok: true }));
    await app.start();

    await broker.publish(mixed, [
      ...Array.from({ length: ACKED }, () => ({ requeue: false })),
      ...Array.from({ length: REQUEUED }, () => ({ requeue: true })),
    ]);
    await broker.publish(mixed, [Buffer.from("{not json")], { contentType: "application/json" });
    await broker.publish(
      failing,
      Array.from({ length: FAILING }, (_, i) => ({ i })),
    );
    for (let i = 0; i < PUBLISHED; i++) await app.amqp.publish({ i }, { routingKey: target });
    const base = urlOf(app);
    for (const id of [1, 2, 3]) expect((await fetch(`${base}/items/${id}`)).status).toBe(200);
    expect((await fetch(`${base}/nowhere/${Math.random()}`)).status).toBe(404);
    await waitFor(
      () => mixedMessages === ACKED + 2 * REQUEUED && failingCalls === FAILING,
      10_000,
      "workload",
    );
    await waitFor(
      () => app.health().transports[0]?.routes.every((r) => r.inFlight === 0) === true,
      5000,
      "idle",
    );

    const { text, samples, type } = await scrape(app);
    if (process.env.WEIR_METRICS_SAMPLE) writeFileSync(process.env.WEIR_METRICS_SAMPLE, text);
    expect(type).toContain("text/plain");
    const amqp = (route: string) => ({ transport: "amqp", route });

    expect(sampleValue(samples, "weir_messages_received_total", amqp(mixed))).toBe(ACKED + 2 * REQUEUED);
    const settled = (route: string, outcome: string) =>
      sampleValue(samples, "weir_messages_settled_total", { ...amqp(route), outcome });
    expect(settled(mixed, "ack")).toBe(ACKED + REQUEUED);
    expect(settled(mixed, "requeue")).toBe(REQUEUED);
    expect(settled(mixed, "reject")).toBe(1); // the body that is not JSON, never handed over
    for (const outcome of ["retry", "dead-letter", "dropped"]) expect(settled(mixed, outcome)).toBe(0);
    expect(settled(failing, "reject")).toBe(FAILING);
    expect(settled(failing, "ack")).toBe(0);

    const duration = (route: string, result: string, suffix: string, le?: string) =>
      sampleValue(samples, `weir_handler_duration_seconds_${suffix}`, {
        ...amqp(route),
        result,
        ...(le !== undefined && { le }),
      });
    expect(duration(mixed, "success", "count")).toBe(mixedCalls);
    expect(duration(mixed, "error", "count")).toBe(0);
    expect(duration(failing, "error", "count")).toBe(FAILING);
    expect(duration(failing, "success", "count")).toBe(0);
    // Buckets are cumulative: +Inf holds every call.
    expect(duration(mixed, "success", "bucket", "+Inf")).toBe(mixedCalls);
    expect(duration(mixed, "success", "bucket", "0.005")).toBeDefined();
    expect(duration(mixed, "success", "bucket", "60")).toBe(mixedCalls);

    expect(sampleValue(samples, "weir_bulk_size_count", amqp(mixed))).toBe(mixedCalls);
    expect(sampleValue(samples, "weir_bulk_size_sum", amqp(mixed))).toBe(ACKED + 2 * REQUEUED);
    expect(sampleValue(samples, "weir_bulk_size_bucket", { ...amqp(failing), le: "1" })).toBe(FAILING);
    for (const le of ["1", "2", "5", "10", "25", "50", "100", "250", "500", "1000", "+Inf"]) {
      expect(sampleValue(samples, "weir_bulk_size_bucket", { ...amqp(mixed), le })).toBeDefined();
    }

    expect(sampleValue(samples, "weir_messages_in_flight", amqp(mixed))).toBe(0);
    expect(sampleValue(samples, "weir_reconnects_total", amqp(mixed))).toBe(0);
    expect(sampleValue(samples, "weir_reattachments_total", amqp(mixed))).toBe(0);
    expect(sampleValue(samples, "weir_consumer_timeouts_total", amqp(mixed))).toBe(0);
    expect(sampleValue(samples, "weir_stop_abandoned_total", amqp(mixed))).toBe(0);
    expect(sampleValue(samples, "weir_route_ready", amqp(mixed))).toBe(1);
    expect(sampleValue(samples, "weir_ready")).toBe(1);
    const since = sampleValue(samples, "weir_time_since_last_delivery_seconds", amqp(mixed));
    expect(since).toBeGreaterThanOrEqual(0);
    expect(since).toBeLessThan(30);

    const published = { transport: "amqp", destination: target };
    expect(
      sampleValue(samples, "weir_messages_published_total", { ...published, outcome: "confirmed" }),
    ).toBe(PUBLISHED);
    expect(sampleValue(samples, "weir_publish_confirm_duration_seconds_count", published)).toBe(PUBLISHED);
    expect(
      sampleValue(samples, "weir_publish_confirm_duration_seconds_bucket", { ...published, le: "+Inf" }),
    ).toBe(PUBLISHED);

    const http = (route: string, status: string) =>
      sampleValue(samples, "weir_http_requests_total", { method: "GET", route, status });
    expect(http("/items/:id", "200")).toBe(3);
    expect(http("unmatched", "404")).toBe(1);
    expect(
      sampleValue(samples, "weir_http_request_duration_seconds_count", {
        method: "GET",
        route: "/items/:id",
        status: "200",
      }),
    ).toBe(3);

    // prom-client's process metrics, in the App's registry.
    expect(sampleValue(samples, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(text).toContain("# TYPE weir_messages_settled_total counter");
    expect(text).toContain("# TYPE weir_handler_duration_seconds histogram");
    expect(text).toContain("# TYPE weir_messages_in_flight gauge");
  });

  it("labels a failed publish with its error code", async () => {
    const app = createApp({
      name: uniqueName("metrics-publish-fail"),
      observability: { metrics: { path: false } },
    });
    apps.push(app);
    const exchange = uniqueName("no-such-exchange");
    await expect(
      app.amqp.publish({ a: 1 }, { exchange, routingKey: "x", timeout: 5_000 }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^WEIR_ERR_PUBLISH_/),
    });
    const registry = app.metrics;
    if (registry === undefined) throw new Error("metrics are on, the registry must exist");
    const metric = await registry.getSingleMetric("weir_messages_published_total")?.get();
    const failed = metric?.values.filter((v) => v.labels.destination === exchange) ?? [];
    expect(failed).toHaveLength(1);
    expect(failed[0]?.value).toBe(1);
    // The broker's 404 on the exchange: nothing was stored (issue 14.4).
    expect(failed[0]?.labels.outcome).toBe("no_exchange");
    expect(app.http.url).toBeUndefined(); // metrics without a path serve nothing, so no port
  });

  it("gives each App its own registry, so two apps in one process do not collide", async () => {
    const first = createApp({
      name: uniqueName("metrics-a"),
      http: { port: 0 },
      observability: { metrics: true },
    });
    const second = createApp({
      name: uniqueName("metrics-b"),
      http: { port: 0 },
      observability: { metrics: true },
    });
    apps.push(first, second);
    first.http.get("/only-first", async () => "a");
    await Promise.all([first.start(), second.start()]);
    await fetch(`${urlOf(first)}/only-first`);
    expect(first.metrics).toBeDefined();
    expect(first.metrics).not.toBe(second.metrics);
    const a = await scrape(first);
    const b = await scrape(second);
    expect(sampleValue(a.samples, "weir_http_requests_total", { route: "/only-first" })).toBe(1);
    expect(sampleValue(b.samples, "weir_http_requests_total", { route: "/only-first" })).toBeUndefined();
    expect(sampleValue(b.samples, "process_cpu_seconds_total")).toBeGreaterThan(0);
  });

  it("honours a prefix, a moved path, and no process metrics", async () => {
    const app = createApp({
      name: uniqueName("metrics-options"),
      http: { port: 0 },
      observability: { metrics: { path: "/internal/prom", prefix: "worker_", defaultMetrics: false } },
    });
    apps.push(app);
    await app.start();
    expect((await fetch(`${urlOf(app)}/metrics`)).status).toBe(404);
    const { samples } = await scrape(app, "/internal/prom");
    expect(sampleValue(samples, "worker_ready")).toBe(1);
    expect(samples.some((sample) => sample.name.startsWith("weir_"))).toBe(false);
    expect(samples.some((sample) => sample.name.startsWith("process_"))).toBe(false);
  });

  it("feeds a histogram from Timeit transactions (timeitToHistogram)", async () => {
    const app = createApp({
      name: uniqueName("metrics-timeit"),
      observability: { metrics: { path: false } },
    });
    apps.push(app);
    const histogram = new Histogram({
      name: "orders_step_duration_seconds",
      help: "Order handling steps.",
      labelNames: ["transaction", "result", "service"],
      buckets: [0.001, 0.01, 0.1, 1],
      registers: app.metrics ? [app.metrics] : [],
    });
    const timeit = new Timeit({
      name: "order",
      callback: timeitToHistogram(histogram, { resultLabel: "result", labels: { service: "billing" } }),
    });
    await timeit.run(async (t) => {
      await t.child("db").run(async () => {});
      await t.child("publish").run(async () => {});
    });
    await expect(timeit.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");

    const samples = parseMetrics((await app.metrics?.metrics()) ?? "");
    const count = (transaction: string, result: string) =>
      sampleValue(samples, "orders_step_duration_seconds_count", { transaction, result, service: "billing" });
    expect(count("order", "success")).toBe(1);
    expect(count("db", "success")).toBe(1);
    expect(count("publish", "success")).toBe(1);
    expect(count("order", "error")).toBe(1);
  });
});
