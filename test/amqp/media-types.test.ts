import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, App, RouteTypes, WeirHeaders } from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import { Broker, createApp, silentLogger, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

/**
 * Issue #14, kinds 1 and 2: media types compared case-sensitively, and bodies with a byte-order
 * mark, a charset or a content-encoding. Every place that decodes a body (consume, tasks, the
 * dead-letter listing and replay, the test client) goes through core's one decoder.
 */

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe("AMQP bodies: media types and encodings (issue #14)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  async function consumeOne(
    publish: { content: Buffer; contentType?: string; contentEncoding?: string }[],
  ): Promise<unknown[]> {
    const queue = await broker.queue(uniqueName("media"));
    for (const { content, ...properties } of publish) await broker.publish(queue, [content], properties);
    const app = createApp();
    const bodies: unknown[] = [];
    app.route([queue], { type: RouteTypes.AMQP }, async (messages) => {
      for (const m of messages) bodies.push(m.body);
    });
    await app.start();
    await waitFor(() => bodies.length === publish.length, 5000, `${publish.length} bodies`);
    await app.stop();
    expect(await broker.count(queue)).toBe(0);
    return bodies;
  }

  it("media types compared case-sensitively: Application/JSON and APPLICATION/JSON; charset=UTF-8 are JSON", async () => {
    const bodies = await consumeOne([
      { content: json({ n: 1 }), contentType: "Application/JSON" },
      { content: json({ n: 2 }), contentType: "APPLICATION/JSON; charset=UTF-8" },
      { content: json({ n: 3 }), contentType: "application/json;charset=utf-8" },
    ]);
    expect(bodies).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it("structured +json types count as JSON (cloudevents, vnd); ndjson and text stay bytes", async () => {
    const bodies = await consumeOne([
      { content: json({ specversion: "1.0" }), contentType: "application/cloudevents+json" },
      { content: json({ data: [] }), contentType: "application/vnd.api+json; charset=utf-8" },
      { content: Buffer.from('{"a":1}\n{"a":2}\n'), contentType: "application/x-ndjson" },
    ]);
    expect(bodies.slice(0, 2)).toEqual([{ specversion: "1.0" }, { data: [] }]);
    expect(Buffer.isBuffer(bodies[2])).toBe(true);
  });

  it("bodies with a BOM: a UTF-8 byte-order mark before {} is ignored, not dead-lettered", async () => {
    const bodies = await consumeOne([
      { content: Buffer.concat([BOM, Buffer.from("{}")]) },
      { content: Buffer.concat([BOM, json({ x: "é" })]), contentType: "application/json" },
    ]);
    expect(bodies).toEqual([{}, { x: "é" }]);
  });

  it("bodies with a charset or a content-encoding: latin1, UTF-16 with its BOM, gzip", async () => {
    const bodies = await consumeOne([
      {
        content: Buffer.from('{"name":"Zoë"}', "latin1"),
        contentType: "application/json; charset=ISO-8859-1",
      },
      {
        content: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"n":"日本"}', "utf16le")]),
        contentType: "application/json",
      },
      { content: gzipSync(json({ zipped: true })), contentType: "application/json", contentEncoding: "gzip" },
      { content: gzipSync(Buffer.from("plain")), contentType: "text/plain", contentEncoding: "GZIP" },
    ]);
    expect(bodies.slice(0, 3)).toEqual([{ name: "Zoë" }, { n: "日本" }, { zipped: true }]);
    expect((bodies[3] as Buffer).toString()).toBe("plain");
  });

  it("bodies with an unknown encoding or charset never reach the handler: dead-lettered with the name in the reason", async () => {
    const queue = await broker.queue(uniqueName("undecodable"));
    broker.track(`${queue}.dlq`);
    const app = createApp();
    const bodies: unknown[] = [];
    app.route([queue], { type: RouteTypes.AMQP, deadLetter: true }, async (messages) => {
      for (const m of messages) bodies.push(m.body);
    });
    await app.start();
    await broker.publish(queue, [json({ a: 1 })], {
      contentType: "application/json",
      contentEncoding: "compress",
    });
    await broker.publish(queue, [json({ a: 2 })], { contentType: "application/json; charset=klingon" });
    await broker.publish(queue, [Buffer.from("not gzip")], { contentEncoding: "gzip" });
    await broker.publish(queue, [{ ok: true }]);
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 3, 5000, "3 dead letters");
    await waitFor(() => bodies.length === 1, 5000, "the decodable message");
    await sleep(200); // a loop would redeliver them meanwhile
    await app.stop();
    expect(bodies).toEqual([{ ok: true }]);
    expect(await broker.count(queue)).toBe(0);
    const letters = await broker.getAll(`${queue}.dlq`);
    const headers = letters.map((letter) => letter.properties.headers ?? {});
    expect(headers.map((h) => h[WeirHeaders.REASON])).toEqual(["undecodable", "undecodable", "undecodable"]);
    expect(headers.map((h) => h[WeirHeaders.ERROR_CODE])).toEqual([
      "WEIR_ERR_BODY_ENCODING",
      "WEIR_ERR_BODY_CHARSET",
      "WEIR_ERR_BODY_ENCODING",
    ]);
    expect(String(headers[0]![WeirHeaders.ERROR])).toContain('"compress"');
    expect(String(headers[1]![WeirHeaders.ERROR])).toContain('"klingon"');
    // The dead letter keeps the body and the properties it came with.
    expect(letters[0]!.properties.contentEncoding).toBe("compress");
  });

  it("without a dead-letter queue an undecodable body is rejected without requeue (to the queue's DLX)", async () => {
    const dlx = await broker.queue(uniqueName("undecodable-dlx"));
    const queue = await broker.queue(uniqueName("undecodable-nodlq"), {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": dlx,
    });
    await broker.publish(queue, [json({})], { contentEncoding: "zstd" });
    const app = createApp();
    let calls = 0;
    app.route([queue], { type: RouteTypes.AMQP }, async () => {
      calls++;
    });
    await app.start();
    await waitFor(async () => (await broker.count(dlx)) === 1, 5000, "the rejected message on the DLX");
    await app.stop();
    expect(calls).toBe(0);
  });

  it("the dead-letter listing and replay decode as consuming does (a gzip body, a BOM, Application/JSON)", async () => {
    const queue = await broker.queue(uniqueName("dlq-decode"));
    broker.track(`${queue}.dlq`);
    const app = createApp();
    const handled: unknown[] = [];
    let refuse = true;
    app.route([queue], { type: RouteTypes.AMQP, deadLetter: true }, async (messages) => {
      for (const m of messages) {
        if (refuse) m.deadLetter("not now");
        else handled.push(m.body);
      }
    });
    await app.start();
    await broker.publish(queue, [gzipSync(json({ id: 1 }))], { contentEncoding: "gzip" });
    await broker.publish(queue, [Buffer.concat([BOM, json({ id: 2 })])], { contentType: "Application/JSON" });
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 2, 5000, "2 dead letters");
    const letters = await app.amqp.listDeadLetters(queue);
    expect(letters.map((letter) => letter.body)).toEqual([{ id: 1 }, { id: 2 }]);
    refuse = false;
    expect(await app.amqp.replay(queue)).toEqual({ replayed: 2, skipped: 0 });
    await waitFor(() => handled.length === 2, 5000, "the replayed messages");
    await app.stop();
    expect(handled).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it("a task receives the decoded payload of a message another client published (gzip, upper-case type)", async () => {
    const name = uniqueName("task-decode");
    broker.track(name);
    const app = createApp();
    const payloads: unknown[] = [];
    app.task(name, async (payload) => {
      payloads.push(payload);
    });
    await app.start();
    await broker.publish(name, [gzipSync(json({ to: "ada" }))], {
      contentType: "APPLICATION/JSON",
      contentEncoding: "gzip",
    });
    await waitFor(() => payloads.length === 1, 5000, "the task run");
    await app.stop();
    expect(payloads).toEqual([{ to: "ada" }]);
  });

  it("the test client decodes as weir does: Application/JSON, a BOM, gzip", async () => {
    const app = new App({
      logger: silentLogger,
      amqp: { url: "amqp://127.0.0.1:1" },
      shutdownTimeout: 2_000,
    });
    const seen: unknown[] = [];
    app.route(["orders"], { type: RouteTypes.AMQP }, async (messages: AMQPMessage[]) => {
      for (const m of messages) seen.push(m.body);
    });
    const client = createTestClient(app);
    try {
      const typed = await client.amqp.deliver("orders", [json({ n: 1 })], {
        contentType: "Application/JSON",
      });
      const bom = await client.amqp.deliver("orders", [Buffer.concat([BOM, json({ n: 2 })])], {
        contentType: "application/json; charset=UTF-8",
      });
      const zipped = await client.amqp.deliver("orders", [gzipSync(json({ n: 3 }))], {
        contentType: "application/json",
        contentEncoding: "gzip",
      });
      expect(seen).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect([typed[0]!.body, bom[0]!.body, zipped[0]!.body]).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      const refused = await client.amqp.deliver("orders", [json({})], { contentEncoding: "compress" });
      expect(refused[0]!.outcome).toBe("reject");
      expect(seen).toHaveLength(3);
    } finally {
      await client.close();
    }
  });
});
