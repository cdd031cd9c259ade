import { Counter, Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, type App, type AppOptions, RouteTypes } from "../../src/index.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";
import { parseMetrics, sampleValue, urlOf } from "./helpers.js";

function app(options: AppOptions): App {
  return createApp({ name: uniqueName("obs-options"), ...options });
}

describe("observability options", () => {
  let broker: Broker;
  const apps: App[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop()));
    await broker.close();
  });

  it("a pure AMQP worker without observability options opens no port", async () => {
    const queue = await broker.queue(uniqueName("obs-no-port"));
    const worker = app({});
    apps.push(worker);
    worker.route([queue], { type: RouteTypes.AMQP }, async () => {});
    await worker.start();
    expect(worker.http.url).toBeUndefined();
    expect(worker.http.server.server.listening).toBe(false);
    expect(worker.health().transports.map((t) => t.transport)).toEqual(["amqp"]);
    expect(worker.metrics).toBeUndefined();
  });

  it("a pure AMQP worker with health on starts weir's HTTP server for /health and /ready only", async () => {
    const queue = await broker.queue(uniqueName("obs-health-port"));
    const worker = app({ http: { port: 0 }, observability: { health: true } });
    apps.push(worker);
    worker.route([queue], { type: RouteTypes.AMQP }, async () => {});
    await worker.start();
    const base = urlOf(worker);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get("cache-control")).toBe("no-store");
    expect(await health.json()).toEqual({ status: "ok" });
    expect((await fetch(`${base}/health`, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    // weir's own endpoints are not user routes: the HTTP transport lists none.
    expect(worker.health().transports.find((t) => t.transport === "http")?.routes).toEqual([]);
  });

  it("serves the endpoints on configured paths, and not the ones set to false", async () => {
    const worker = app({
      http: { port: 0 },
      observability: {
        health: { livenessPath: "/_/live", readinessPath: false },
        metrics: { path: "/_/metrics", defaultMetrics: false },
      },
    });
    apps.push(worker);
    await worker.start();
    const base = urlOf(worker);
    expect((await fetch(`${base}/_/live`)).status).toBe(200);
    expect((await fetch(`${base}/ready`)).status).toBe(404);
    expect((await fetch(`${base}/health`)).status).toBe(404);
    const metrics = await fetch(`${base}/_/metrics`);
    expect(metrics.status).toBe(200);
    expect(sampleValue(parseMetrics(await metrics.text()), "weir_ready")).toBe(1);
  });

  it("`observability: true` turns on health, metrics and tracing", async () => {
    const worker = app({ http: { port: 0 }, observability: true });
    apps.push(worker);
    await worker.start();
    const base = urlOf(worker);
    for (const path of ["/health", "/ready", "/metrics"])
      expect((await fetch(`${base}${path}`)).status).toBe(200);
  });

  it("refuses a user route on an endpoint's path with WEIR_ERR_RESERVED_PATH, whatever its method", () => {
    const worker = app({ observability: { health: true, metrics: true } });
    expect(() => worker.http.get("/metrics", async () => "mine")).toThrowError(
      expect.objectContaining({
        code: "WEIR_ERR_RESERVED_PATH",
        name: "ReservedPathError",
        path: "/metrics",
      }),
    );
    expect(() =>
      worker.route(["/ok", "/ready/"], { type: RouteTypes.HTTP }, async () => "mine"),
    ).toThrowError(
      /\/ready\/ is served by the readiness endpoint; move it with observability\.health\.readinessPath/,
    );
    expect(() => worker.http.post("/health", async () => "mine")).toThrowError(
      expect.objectContaining({ code: "WEIR_ERR_RESERVED_PATH" }),
    );
    // Nothing of the refused route was registered.
    expect(() => worker.http.get("/ok", async () => "fine")).not.toThrow();
  });

  it("lets a user route take a path once the endpoint is moved or disabled", () => {
    const worker = app({
      observability: {
        health: { livenessPath: false, readinessPath: "/readyz" },
        metrics: { path: "/prom" },
      },
    });
    expect(() => worker.http.get("/health", async () => "mine")).not.toThrow();
    expect(() => worker.http.get("/ready", async () => "mine")).not.toThrow();
    expect(() => worker.http.get("/metrics", async () => "mine")).not.toThrow();
    expect(() => worker.http.get("/readyz", async () => "mine")).toThrowError(
      expect.objectContaining({ code: "WEIR_ERR_RESERVED_PATH" }),
    );
  });

  it.each([
    [{ unknown: true }, "observability.unknown"],
    [{ health: { livenessPath: "health" } }, "observability.health.livenessPath"],
    [{ health: { path: "/x" } }, "observability.health.path"],
    [{ metrics: { prefix: "9weir_" } }, "observability.metrics.prefix"],
    [{ metrics: { buckets: { bulkSize: [5, 1] } } }, "observability.metrics.buckets.bulkSize"],
    [{ metrics: { registry: {} } }, "observability.metrics.registry"],
    [{ tracing: "yes" }, "observability.tracing"],
    [{ health: { livenessPath: "/x" }, metrics: { path: "/x" } }, "observability"],
  ])("checks %j at construction", (observability, option) => {
    expect(() => app({ observability: observability as AppOptions["observability"] })).toThrowError(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option }),
    );
  });

  it("shares a registry with your own metrics, and refuses one that already holds weir's", async () => {
    const registry = new Registry();
    const mine = new Counter({ name: "orders_total", help: "Orders.", registers: [registry] });
    const first = app({ observability: { metrics: { registry, path: false } } });
    expect(first.metrics).toBe(registry);
    mine.inc(2);
    expect(sampleValue(parseMetrics(await registry.metrics()), "orders_total")).toBe(2);
    expect(() => app({ observability: { metrics: { registry, path: false } } })).toThrowError(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "observability.metrics.registry" }),
    );
    expect(() =>
      app({ observability: { metrics: { registry, path: false, prefix: "second_", defaultMetrics: true } } }),
    ).not.toThrow();
  });

  it("tracing without an OpenTelemetry SDK is a no-op: messages flow and carry no trace headers", async () => {
    const queue = await broker.queue(uniqueName("obs-noop-trace"));
    const worker = app({ observability: { tracing: true } });
    apps.push(worker);
    const headers: Record<string, unknown>[] = [];
    worker.route([queue], { type: RouteTypes.AMQP }, async (messages: AMQPMessage[]) => {
      for (const m of messages) headers.push(m.headers);
    });
    await worker.start();
    await worker.amqp.publish({ a: 1 }, { routingKey: queue, headers: { tenant: "t1" } });
    await waitFor(() => headers.length === 1, 5000, "the message");
    expect(headers[0]).toEqual({ tenant: "t1" });
  });
});
