import { Parser } from "@asyncapi/parser";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type App, ConstantBackoff, RouteTypes, toAsyncAPI } from "../../src/index.js";
import { createRedisApp, RedisHelper, uniqueStream } from "../helpers/redis.js";
import { ready, sampleValue, scrape } from "../observability/helpers.js";
import { until } from "../transports/delivery-behaviour.js";

const exporter = new InMemorySpanExporter();
beforeAll(() => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

describe("redis: routes, AsyncAPI, /metrics, /ready and tracing", () => {
  it("the AsyncAPI document describes each stream (server, channel, receive operation) and the parser accepts it", async () => {
    const app = createRedisApp({ name: "shop", redis: { url: "redis://:secret@redis.example.com:6380" } });
    app.route(
      ["orders", "orders.priority"],
      {
        type: RouteTypes.REDIS,
        schema: z.object({ id: z.number() }),
        retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 1000 }) },
        options: { bulkSize: 10 },
      },
      async () => {},
    );
    const document = toAsyncAPI(app) as unknown as {
      servers: Record<string, { host: string; protocol: string }>;
      channels: Record<string, { address: string }>;
      operations: Record<string, { action: string; "x-weir-redis": Record<string, unknown> }>;
    };
    expect(document.servers.redis).toMatchObject({ host: "redis.example.com:6380", protocol: "redis" });
    expect(JSON.stringify(document)).not.toContain("secret");
    expect(Object.values(document.channels).map((c) => c.address)).toEqual(["orders", "orders.priority"]);
    expect(document.operations["receive.redis.orders"]).toMatchObject({
      action: "receive",
      "x-weir-redis": { group: "shop", retryKey: "orders.retry", deadLetterStream: "orders.dlq" },
    });
    const { diagnostics } = await new Parser().parse(JSON.stringify(document));
    expect(diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message}`)).toEqual([]);
  });

  it("a publish inside a span is traced to the handler (messaging.system redis); settlements in /metrics; /ready says ready; health lists the connections and their node", async () => {
    exporter.reset();
    const redis = new RedisHelper();
    const stream = redis.track(uniqueStream("observed"));
    let app: App | undefined;
    try {
      app = createRedisApp({
        name: `observed-${stream.slice(-8)}`,
        observability: true,
        http: { host: "127.0.0.1", port: 0 },
      });
      let traceparent: unknown;
      app.route([stream], { type: RouteTypes.REDIS }, async (messages) => {
        traceparent = messages[0]?.headers.traceparent;
      });
      await app.start();
      const root = trace.getTracer("weir-test").startSpan("checkout");
      await context.with(trace.setSpan(context.active(), root), () =>
        app!.redis.publish({ order: 1 }, { stream, headers: { tenant: "t1" } }),
      );
      root.end();
      await until(() => exporter.getFinishedSpans().some((s) => s.name === `process ${stream}`), "the span");
      const process = exporter.getFinishedSpans().find((s) => s.name === `process ${stream}`)!;
      const publish = exporter.getFinishedSpans().find((s) => s.name === `publish ${stream}`)!;
      expect(process.attributes["messaging.system"]).toBe("redis");
      expect(publish.attributes["messaging.system"]).toBe("redis");
      expect(process.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(traceparent).toBe(`00-${root.spanContext().traceId}-${publish.spanContext().spanId}-01`);

      await until(async () => (await redis.backlog(stream)) === 0, "the ack");
      const { samples } = await scrape(app);
      expect(
        sampleValue(samples, "weir_messages_settled_total", {
          transport: "redis",
          route: stream,
          outcome: "ack",
        }),
      ).toBe(1);
      const { status, body } = await ready(app);
      expect(status).toBe(200);
      expect(body.notReady).toEqual([]);
      expect(app.health().transports.find((t) => t.transport === "redis")?.connections).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ role: "commands", connected: true, node: "127.0.0.1:6379" }),
          expect.objectContaining({ role: `consume:${stream}`, connected: true, node: "127.0.0.1:6379" }),
        ]),
      );
    } finally {
      await app?.stop();
      await redis.close();
    }
  });

  it("a route's log lines name the transport once (a duplicate JSON key is refused or mangled by log collectors)", async () => {
    const redis = new RedisHelper();
    const stream = redis.track(uniqueStream("logged"));
    const raw: string[] = [];
    const logger = pino(
      { level: "info" },
      { write: (chunk: string) => void raw.push(...chunk.split("\n").filter(Boolean)) },
    );
    const app = createRedisApp({ name: `logged-${stream.slice(-8)}`, logger });
    try {
      app.route(
        [stream],
        { type: RouteTypes.REDIS, schema: z.object({ id: z.number() }), deadLetter: true },
        async () => {},
      );
      await app.start();
      await app.redis.publish({ id: "not a number" }, { stream });
      await until(
        async () => raw.some((line) => line.includes("message dead-lettered")),
        "the dead-letter log line",
      );
      const routeLines = raw.filter((line) => line.includes(`"route":"${stream}"`));
      expect(routeLines.length).toBeGreaterThan(0);
      for (const line of routeLines) expect(line.match(/"transport":/g)).toHaveLength(1);
    } finally {
      await app.stop();
      await redis.close();
    }
  });
});
