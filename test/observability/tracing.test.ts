import { context, propagation, type SpanContext, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, type App, RouteTypes } from "../../src/index.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";
import { urlOf } from "./helpers.js";

// The SDK is a test dependency only: weir talks to @opentelemetry/api, the user installs an SDK.
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

const tracer = trace.getTracer("weir-test");

function span(name: string): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`${found.length} spans named ${name}`);
  return found[0]!;
}

function sameSpan(a: SpanContext | undefined, b: SpanContext): boolean {
  return a?.traceId === b.traceId && a.spanId === b.spanId;
}

describe("OpenTelemetry through a real broker", () => {
  let broker: Broker;
  const apps: App[] = [];
  beforeEach(async () => {
    exporter.reset();
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await broker.close();
  });

  it("publish inside a span → the consumer's handler span is in the same trace, child of and linked to the publish", async () => {
    const queue = await broker.queue(uniqueName("trace-roundtrip"));
    const app = createApp({ name: uniqueName("trace-app"), observability: { tracing: true } });
    apps.push(app);
    let activeInHandler: SpanContext | undefined;
    let traceparent: unknown;
    app.route([queue], { type: RouteTypes.AMQP }, async (messages: AMQPMessage[]) => {
      activeInHandler = trace.getActiveSpan()?.spanContext();
      traceparent = messages[0]?.headers.traceparent;
    });
    await app.start();

    const checkout = await tracer.startActiveSpan("checkout", async (root) => {
      await app.amqp.publish({ order: 1 }, { routingKey: queue, headers: { tenant: "t1" } });
      root.end();
      return root.spanContext();
    });
    await waitFor(() => activeInHandler !== undefined, 5000, "the handler");
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === `process ${queue}`), 5000, "span");

    const publish = span(`publish ${queue}`);
    const process = span(`process ${queue}`);
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(sameSpan(publish.parentSpanContext, checkout)).toBe(true);
    expect(traceparent).toBe(`00-${checkout.traceId}-${publish.spanContext().spanId}-01`);

    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.spanContext().traceId).toBe(checkout.traceId);
    expect(sameSpan(process.parentSpanContext, publish.spanContext())).toBe(true);
    expect(process.links).toHaveLength(1);
    expect(sameSpan(process.links[0]?.context, publish.spanContext())).toBe(true);
    expect(process.attributes).toMatchObject({
      "messaging.system": "rabbitmq",
      "messaging.operation.type": "process",
      "messaging.destination.name": queue,
      "messaging.batch.message_count": 1,
    });
    // The handler runs inside its span: what it publishes or traces joins the same trace.
    expect(sameSpan(activeInHandler, process.spanContext())).toBe(true);
  });

  it("links a bulk to every message's trace without picking one as the parent; a failure marks the span", async () => {
    const queue = await broker.queue(uniqueName("trace-bulk"));
    const app = createApp({ name: uniqueName("trace-bulk-app"), observability: { tracing: true } });
    apps.push(app);
    let calls = 0;
    app.route(
      [queue],
      { type: RouteTypes.AMQP, options: { bulkSize: 3, bulkFlushInterval: 60_000, onException: "reject" } },
      async () => {
        calls++;
        throw new Error("bulk failed");
      },
    );
    await app.start();
    const roots: SpanContext[] = [];
    for (const name of ["a", "b", "c"]) {
      await tracer.startActiveSpan(name, async (root) => {
        await app.amqp.publish({ name }, { routingKey: queue });
        root.end();
        roots.push(root.spanContext());
      });
    }
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === `process ${queue}`), 5000, "span");
    expect(calls).toBe(1);
    const process = span(`process ${queue}`);
    expect(process.parentSpanContext).toBeUndefined();
    expect(new Set(process.links.map((link) => link.context.traceId))).toEqual(
      new Set(roots.map((root) => root.traceId)),
    );
    expect(roots.map((root) => root.traceId)).not.toContain(process.spanContext().traceId);
    expect(process.attributes["messaging.batch.message_count"]).toBe(3);
    expect(process.status.code).toBe(SpanStatusCode.ERROR);
    expect(process.events.some((event) => event.name === "exception")).toBe(true);
  });

  it("gives an HTTP request a span (parented by its traceparent) in which the handler runs", async () => {
    const queue = await broker.queue(uniqueName("trace-http"));
    const app = createApp({
      name: uniqueName("trace-http-app"),
      http: { port: 0 },
      observability: { tracing: true },
    });
    apps.push(app);
    app.http.post("/orders/:id", async (request) => {
      await app.amqp.publish({ id: (request.params as { id: string }).id }, { routingKey: queue });
      return { ok: true };
    });
    app.http.get("/boom", async () => {
      throw new Error("handler failed");
    });
    await app.start();
    const caller = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
    const response = await fetch(`${urlOf(app)}/orders/42?x=1`, {
      method: "POST",
      headers: {
        traceparent: `00-${caller.traceId}-${caller.spanId}-01`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ large: "body read from socket events" }),
    });
    expect(response.status).toBe(200);
    expect((await fetch(`${urlOf(app)}/boom`)).status).toBe(500);
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === "GET /boom"), 5000, "spans");

    const request = span("POST /orders/:id");
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(request.spanContext().traceId).toBe(caller.traceId);
    expect(request.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(request.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/orders/:id",
      "url.path": "/orders/42",
      "http.response.status_code": 200,
    });
    // The handler ran in the request's context: its publish is a child of the request span.
    const publish = span(`publish ${queue}`);
    expect(sameSpan(publish.parentSpanContext, request.spanContext())).toBe(true);

    const failed = span("GET /boom");
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes["http.response.status_code"]).toBe(500);
  });
});
