import { Parser } from "@asyncapi/parser";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { type App, type NATSMessage, RouteTypes, toAsyncAPI, WeirError } from "../../src/index.js";
import { createNATSApp, NATSAdmin, uniqueStream } from "../helpers/nats.js";
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

describe("nats: what only NATS does (the shared suites are in test/transports)", () => {
  let admin: NATSAdmin;
  const apps: App[] = [];
  const app = (options: Parameters<typeof createNATSApp>[0] = {}) => {
    const made = createNATSApp({ name: uniqueStream("app"), ...options });
    apps.push(made);
    return made;
  };
  beforeEach(async () => {
    admin = await NATSAdmin.connect();
    exporter.reset();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop()));
    await admin.close();
  });

  it("app.nats.publish resolves with the stream's ack; a repeated msgID is dropped by JetStream as a duplicate", async () => {
    const stream = await admin.stream(uniqueStream("publish"));
    const a = app();
    const first = await a.nats.publish(
      { n: 1 },
      { subject: `${stream}.a`, msgID: "one", headers: { tenant: "t1" } },
    );
    const again = await a.nats.publish({ n: 1 }, { subject: `${stream}.a`, msgID: "one" });
    expect(first).toEqual({ stream, seq: 1, duplicate: false });
    expect(again.duplicate).toBe(true);
    const stored = await admin.messages(stream);
    expect(stored.map((m) => m.body)).toEqual([{ n: 1 }]);
    expect(stored[0]?.headers.tenant).toBe("t1");
  });

  it("messageId is the Nats-Msg-Id: a second publish with the same messageId is stored once; msgID is its deprecated alias; both different is an error", async () => {
    const stream = await admin.stream(uniqueStream("msgid"));
    const a = app();
    const first = await a.nats.publish({ n: 1 }, { subject: `${stream}.a`, messageId: "order-1" });
    const again = await a.nats.publish({ n: 1 }, { subject: `${stream}.a`, messageId: "order-1" });
    expect(first).toEqual({ stream, seq: 1, duplicate: false });
    expect(again.duplicate).toBe(true);
    // the alias names the same id, so JetStream drops this one too
    const alias = await a.nats.publish({ n: 1 }, { subject: `${stream}.a`, msgID: "order-1" });
    expect(alias.duplicate).toBe(true);
    const other = await a.nats.publish({ n: 2 }, { subject: `${stream}.a`, messageId: "order-2" });
    expect(other).toEqual({ stream, seq: 2, duplicate: false });
    expect(await admin.count(stream)).toBe(2);

    await expect(
      a.nats.publish({ n: 3 }, { subject: `${stream}.a`, messageId: "x", msgID: "y" }),
    ).rejects.toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", message: expect.stringContaining("msgID") });
    const same = await a.nats.publish({ n: 3 }, { subject: `${stream}.a`, messageId: "z", msgID: "z" });
    expect(same.duplicate).toBe(false);
    expect(await admin.count(stream)).toBe(3);
  });

  it("a publish no stream captures fails with WEIR_ERR_NATS_NO_STREAM (sent: false); a bad option at once", async () => {
    const a = app();
    const error = await a.nats
      .publish({}, { subject: `${uniqueStream("nowhere")}.x` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeirError);
    expect(error).toMatchObject({ code: "WEIR_ERR_NATS_NO_STREAM", sent: false });
    // Often a publish before start() of the app whose route declares the stream: the message says so.
    expect((error as Error).message).toContain("declare: true creates it at start");
    await expect(a.nats.publish({}, { subject: "" })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
    });
    await expect(a.nats.publish({}, { subject: "x", tiemout: 5 } as never)).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
    });
  });

  it("the app's nats.prefetch is the prefetch of a route without its own: weir routes and the consumer's max_ack_pending show it, a blocked route holds at most that many; a route's own wins", async () => {
    const stream = await admin.stream(uniqueStream("appprefetch"));
    const own = await admin.stream(uniqueStream("ownprefetch"));
    const a = app({ nats: { prefetch: 3 } });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let handled = 0;
    a.route([stream], { type: RouteTypes.NATS, options: { bulkSize: 1, concurrency: 10 } }, async () => {
      handled++;
      await gate;
    });
    a.route([own], { type: RouteTypes.NATS, prefetch: 7 }, async () => {});
    const transport = a[appTransports].get("nats");
    const row = transport?.describe(a.routes[0]!).details as { prefetch: number; consumer: string };
    expect(row.prefetch).toBe(3);
    expect(transport?.describe(a.routes[1]!).details).toMatchObject({ prefetch: 7 });
    expect(() => app({ nats: { prefetch: 1.5 } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "nats.prefetch" }),
    );

    await admin.publish(
      `${stream}.a`,
      Array.from({ length: 10 }, (_, n) => ({ n })),
    );
    await a.start();
    expect((await admin.jsm.consumers.info(stream, row.consumer)).config.max_ack_pending).toBe(3);
    try {
      await until(() => handled === 3, "3 messages in the handler");
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(handled).toBe(3);
    } finally {
      release();
    }
    await until(() => handled === 10, "the rest once released");
  });

  it("start() fails with WEIR_ERR_NATS_STREAM_NOT_FOUND for a missing stream; `subjects` creates it", async () => {
    const missing = uniqueStream("missing");
    const a = app();
    a.route([missing], { type: RouteTypes.NATS }, async () => {});
    await expect(a.start()).rejects.toMatchObject({ code: "WEIR_ERR_NATS_STREAM_NOT_FOUND" });

    const created = uniqueStream("created");
    admin.track(created);
    const b = app();
    const got: unknown[] = [];
    b.route([created], { type: RouteTypes.NATS, subjects: [`${created}.>`] }, async (messages) => {
      for (const m of messages) got.push(m.body);
    });
    await b.start();
    await b.nats.publish({ hello: "world" }, { subject: `${created}.greeting` });
    await until(() => got.length === 1, "the message");
    expect(got).toEqual([{ hello: "world" }]);
  });

  it("a handler longer than ackWait is kept alive by working() beats: one delivery, then acked", async () => {
    const stream = await admin.stream(uniqueStream("working"));
    const a = app();
    const deliveries: { n: number; count: number }[] = [];
    a.route(
      [stream],
      { type: RouteTypes.NATS, ackWait: 1_000 },
      async (messages: NATSMessage<{ n: number }>[]) => {
        for (const m of messages) deliveries.push({ n: m.body.n, count: m.deliveryCount });
        await new Promise((resolve) => setTimeout(resolve, 2_500));
      },
    );
    await a.start();
    await admin.publish(`${stream}.slow`, [{ n: 1 }]);
    await until(
      async () => deliveries.length === 1 && (await admin.backlog(stream, a.name)) === 0,
      "the ack",
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(deliveries).toEqual([{ n: 1, count: 1 }]);
  });

  it("a body that is not JSON is dead-lettered (deadLetter on) with its reason in headers, never requeued", async () => {
    const stream = await admin.stream(uniqueStream("badjson"));
    admin.track(`${stream}-dlq`);
    const a = app();
    const handled: unknown[] = [];
    a.route([stream], { type: RouteTypes.NATS, deadLetter: true }, async (messages) => {
      for (const m of messages) handled.push(m.body);
    });
    await a.start();
    await admin.publish(`${stream}.x`, ["{not json", { ok: true }]);
    await until(async () => (await admin.messages(`${stream}-dlq`)).length === 1, "the dead letter");
    await until(() => handled.length === 1, "the good one");
    const [dead] = await admin.messages(`${stream}-dlq`);
    expect(dead?.body).toBe("{not json");
    expect(dead?.subject).toBe(`weir.dlq.${stream}`);
    expect(dead?.headers).toMatchObject({
      "x-weir-error-code": "WEIR_ERR_INVALID_JSON",
      "x-weir-original-subject": `${stream}.x`,
      "x-weir-original-stream": stream,
      "x-weir-attempts": "1",
    });
    expect(handled).toEqual([{ ok: true }]);
  });

  it("dead letters say why as the other transports do: reason max-attempts / invalid-json / dead-lettered, the error text apart; replay filters on it", async () => {
    const stream = await admin.stream(uniqueStream("reasons"));
    admin.track(`${stream}-dlq`);
    const a = app();
    const calls: number[] = [];
    let failing = true;
    a.route(
      [stream],
      { type: RouteTypes.NATS, retry: { maxAttempts: 2, backoff: { get: () => 50 } } },
      async (messages: NATSMessage<{ n: number }>[]) => {
        for (const m of messages) {
          calls.push(m.body.n);
          if (m.body.n === 2) m.deadLetter();
          else if (m.body.n === 1 && failing) throw new Error("always fails");
        }
      },
    );
    await a.start();
    await admin.publish(`${stream}.x`, [{ n: 1 }, { n: 2 }, "{not json", { n: 3 }]);
    await until(async () => (await a.nats.deadLetters(stream)).length === 3, "three dead letters", 15_000);
    const letters = await a.nats.deadLetters(stream);
    const byReason = Object.fromEntries(letters.map((l) => [l.reason, l]));
    expect(Object.keys(byReason).sort()).toEqual(["dead-lettered", "invalid-json", "max-attempts"]);
    expect(byReason["max-attempts"]).toMatchObject({ body: { n: 1 }, error: "always fails", attempts: 2 });
    expect(byReason["invalid-json"]).toMatchObject({ body: "{not json", code: "WEIR_ERR_INVALID_JSON" });
    expect(byReason["dead-lettered"]?.body).toEqual({ n: 2 });
    expect(byReason["max-attempts"]?.headers["x-weir-reason"]).toBe("max-attempts");

    failing = false;
    const { replayed } = await a.nats.replay(stream, { filter: (l) => l.reason === "max-attempts" });
    expect(replayed).toBe(1);
    await until(
      () => calls.filter((n) => n === 1).length === 3,
      "the replayed message handled again",
      10_000,
    );
    expect((await a.nats.deadLetters(stream)).map((l) => l.reason).sort()).toEqual([
      "dead-lettered",
      "invalid-json",
    ]);
    expect(calls.filter((n) => n === 3)).toEqual([3]);
  });

  it("health names the server; describe and AsyncAPI show the route with its consumer and dead-letter stream", async () => {
    const stream = await admin.stream(uniqueStream("health"));
    admin.track(`${stream}-dlq`);
    const a = app({ name: "health-app" });
    a.route(
      [stream],
      {
        type: RouteTypes.NATS,
        subject: `${stream}.orders`,
        prefetch: 20,
        retry: { maxAttempts: 2 },
        options: { bulkSize: 50 },
      },
      async () => {},
    );
    await a.start();
    const health = a.health().transports.find((t) => t.transport === "nats");
    expect(health?.ready).toBe(true);
    expect(health?.connections?.[0]).toMatchObject({ connected: true, node: "127.0.0.1:4222" });
    expect(health?.routes[0]).toMatchObject({ consumer: `health-app_${stream}_orders`, consuming: true });
    const doc = toAsyncAPI(a);
    expect(JSON.stringify(doc.servers)).toContain('"protocol":"nats"');
    const channel = Object.values(doc.channels)[0] as { address: string; bindings: unknown };
    expect(channel.address).toBe(`${stream}.orders`);
    expect(channel.bindings).toEqual({ nats: {} });
    const { diagnostics } = await new Parser().parse(JSON.stringify(doc));
    expect(diagnostics.filter((d) => d.severity <= 1).map((d) => d.message)).toEqual([]);
  });

  it("tracing and metrics: a publish in a span → the handler's span is in the same trace, messaging.system nats; the ack counted", async () => {
    const stream = await admin.stream(uniqueStream("trace"));
    const a = app({ observability: { tracing: true, metrics: true } });
    let traceparent: string | undefined;
    a.route([stream], { type: RouteTypes.NATS }, async (messages: NATSMessage[]) => {
      traceparent = messages[0]?.headers.traceparent;
    });
    await a.start();
    const root = await trace.getTracer("t").startActiveSpan("checkout", async (span) => {
      await a.nats.publish({ n: 1 }, { subject: `${stream}.t` });
      span.end();
      return span.spanContext();
    });
    await until(() => traceparent !== undefined, "the handler");
    await until(
      () => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.CONSUMER),
      "the process span",
    );
    const process = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(process.spanContext().traceId).toBe(root.traceId);
    expect(process.attributes["messaging.system"]).toBe("nats");
    // /metrics counts the route's settlements under its transport.
    await until(
      async () =>
        /messages_settled_total\{[^}]*transport="nats"[^}]*\} 1/.test((await a.metrics?.metrics()) ?? ""),
      "the ack counted",
    );
  });
});
