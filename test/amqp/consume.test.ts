import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, RouteTypes } from "../../src/index.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";

describe("AMQP consuming", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("caps the bulk at the prefetch when prefetch < bulkSize (else it would deadlock)", async () => {
    const queue = await broker.queue(uniqueName("prefetch-below"));
    await broker.publish(
      queue,
      Array.from({ length: 12 }, (_, i) => ({ i })),
    );
    const app = createApp();
    const sizes: number[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 4, options: { bulkSize: 10, bulkFlushInterval: 60_000 } },
      async (messages) => {
        sizes.push(messages.length);
      },
    );
    await app.start();
    await waitFor(() => sizes.reduce((a, b) => a + b, 0) === 12, 5000, "12 messages");
    await app.stop();
    expect(sizes).toEqual([4, 4, 4]);
    expect(await broker.count(queue)).toBe(0);
  });

  it("uses bulkSize when the prefetch is larger", async () => {
    const queue = await broker.queue(uniqueName("prefetch-above"));
    await broker.publish(
      queue,
      Array.from({ length: 20 }, (_, i) => ({ i })),
    );
    const app = createApp();
    const sizes: number[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 100, options: { bulkSize: 5, bulkFlushInterval: 60_000 } },
      async (messages) => {
        sizes.push(messages.length);
      },
    );
    await app.start();
    await waitFor(() => sizes.length === 4, 5000, "4 bulks");
    await app.stop();
    expect(sizes).toEqual([5, 5, 5, 5]);
  });

  it("flushes a partial bulk after bulkFlushInterval, never an empty one, and in order", async () => {
    const queue = await broker.queue(uniqueName("timed-flush"));
    const app = createApp();
    const bulks: { bodies: unknown[]; at: number }[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, options: { bulkSize: 100, bulkFlushInterval: 300 } },
      async (messages) => {
        bulks.push({ bodies: messages.map((m) => m.body), at: Date.now() });
      },
    );
    await app.start();
    const sentAt = Date.now();
    await broker.publish(queue, [1, 2, 3]);
    await waitFor(() => bulks.length === 1, 3000, "a timed flush");
    const waited = (bulks[0]?.at ?? 0) - sentAt;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2000);
    expect(bulks[0]?.bodies).toEqual([1, 2, 3]);
    await new Promise((resolve) => setTimeout(resolve, 700)); // further intervals must not flush empty bulks
    await app.stop();
    expect(bulks).toHaveLength(1);
  });

  it("consumes several queues with one handler and gives each message its queue", async () => {
    const a = await broker.queue(uniqueName("multi-a"));
    const b = await broker.queue(uniqueName("multi-b"));
    await broker.publish(a, [{ from: "a" }, { from: "a" }]);
    await broker.publish(b, [{ from: "b" }]);
    const app = createApp();
    const seen: string[] = [];
    app.route([a, b], { type: RouteTypes.AMQP }, async (messages) => {
      for (const m of messages) seen.push(`${m.queue}:${(m.body as { from: string }).from}`);
    });
    await app.start();
    await waitFor(() => seen.length === 3);
    await app.stop();
    expect(seen.sort()).toEqual([`${a}:a`, `${a}:a`, `${b}:b`].sort());
    expect(await broker.count(a)).toBe(0);
    expect(await broker.count(b)).toBe(0);
  });

  it("gives the handler the delivery's metadata", async () => {
    const queue = await broker.queue(uniqueName("metadata"));
    await broker.publish(queue, [{ hello: "world" }], { headers: { "x-trace": "t1" }, messageId: "m-1" });
    const app = createApp();
    let got: AMQPMessage | undefined;
    app.route([queue], { type: RouteTypes.AMQP }, async ([m]) => {
      got = m;
    });
    await app.start();
    await waitFor(() => got !== undefined);
    await app.stop();
    expect(got?.body).toEqual({ hello: "world" });
    expect(got?.raw.toString()).toBe('{"hello":"world"}');
    expect(got?.queue).toBe(queue);
    expect(got?.routingKey).toBe(queue);
    expect(got?.exchange).toBe("");
    expect(got?.redelivered).toBe(false);
    expect(got?.deliveryTag).toBeGreaterThan(0);
    expect(got?.headers).toEqual({ "x-trace": "t1" });
    expect(got?.properties.messageId).toBe("m-1");
  });

  it("gives a non-JSON content type to the handler as a Buffer", async () => {
    const queue = await broker.queue(uniqueName("binary"));
    await broker.publish(queue, [Buffer.from("not json at all")], { contentType: "text/plain" });
    const app = createApp();
    let body: unknown;
    app.route([queue], { type: RouteTypes.AMQP }, async ([m]) => {
      body = m?.body;
    });
    await app.start();
    await waitFor(() => body !== undefined);
    await app.stop();
    expect(Buffer.isBuffer(body)).toBe(true);
    expect((body as Buffer).toString()).toBe("not json at all");
  });

  it("rejects invalid JSON without requeue (to the DLX), never to the handler, and keeps consuming", async () => {
    const dlq = await broker.queue(uniqueName("invalid-json-dlq"));
    const queue = await broker.queue(uniqueName("invalid-json"), {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": dlq,
    });
    await broker.publish(queue, [Buffer.from("{not json"), { ok: 1 }, Buffer.from(""), { ok: 2 }]);
    const app = createApp();
    const seen: unknown[] = [];
    app.route([queue], { type: RouteTypes.AMQP }, async (messages) => {
      for (const m of messages) seen.push(m.body);
    });
    await app.start();
    await waitFor(() => seen.length === 2);
    await waitFor(async () => (await broker.count(dlq)) === 2, 3000, "2 dead-lettered");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await app.stop();
    expect(seen).toEqual([{ ok: 1 }, { ok: 2 }]);
    expect(await broker.count(queue)).toBe(0);
  });

  it("consumes queues on two vhosts, one connection each", async () => {
    const vhost = "weir-test";
    const other = await Broker.connect(vhost);
    try {
      const q1 = await broker.queue(uniqueName("vhost-default"));
      const q2 = await other.queue(uniqueName("vhost-other"));
      await broker.publish(q1, [{ v: "/" }]);
      await other.publish(q2, [{ v: vhost }]);
      const app = createApp();
      const seen: string[] = [];
      app.route([q1], { type: RouteTypes.AMQP }, async ([m]) => {
        seen.push((m?.body as { v: string } | undefined)?.v ?? "?");
      });
      app.route([q2], { type: RouteTypes.AMQP, vhost }, async ([m]) => {
        seen.push((m?.body as { v: string } | undefined)?.v ?? "?");
      });
      await app.start();
      await waitFor(() => seen.length === 2);
      await app.amqp.publish({ v: "published" }, { routingKey: q2, vhost });
      await waitFor(() => seen.length === 3);
      await app.stop();
      expect(seen.sort()).toEqual(["/", "published", vhost].sort());
      expect(await other.count(q2)).toBe(0);
    } finally {
      await other.close();
    }
  });

  it("declares the queue when the route says declare: true, and fails with a coded error when it does not", async () => {
    const declared = uniqueName("declared");
    const app = createApp();
    const seen: unknown[] = [];
    app.route([declared], { type: RouteTypes.AMQP, declare: true }, async ([m]) => {
      seen.push(m?.body);
    });
    await app.start();
    await broker.queue(declared); // same arguments: a no-op, and the test cleans it up
    await broker.publish(declared, [{ n: 1 }]);
    await waitFor(() => seen.length === 1);
    await app.stop();

    const missing = createApp();
    missing.route([uniqueName("missing")], { type: RouteTypes.AMQP }, async () => {});
    await expect(missing.start()).rejects.toMatchObject({ code: "WEIR_ERR_QUEUE_NOT_FOUND" });
    expect(missing.status).toBe("stopped");
  });
});
