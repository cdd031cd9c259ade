import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AMQPMessage,
  ConstantBackoff,
  HeaderValueError,
  PublishError,
  RouteTypes,
  UnrecoverableError,
} from "../../src/index.js";
import { headersToRepublish } from "../../src/transports/amqp/field-table/decode.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";

/**
 * Issue #14, kind 3: header values that do not survive the trip. Before: a Date header arrived as
 * `{}`, a BigInt made publish throw a bare TypeError, and a 64-bit integer from another client was
 * rounded when read, then republished rounded by a retry or a dead letter.
 */

const LONG_MAX = 9223372036854775807n;
const ID = 1234567890123456789n;

/** Headers another client sends with explicit AMQP types (amqplib's `{ "!": type, value }` form). */
const FOREIGN = {
  max: { "!": "long", value: LONG_MAX },
  min: { "!": "long", value: -(2n ** 63n) },
  id: { "!": "long", value: ID },
  small: { "!": "long", value: 7 },
  int: { "!": "int", value: 5 },
  ubyte: { "!": "unsignedbyte", value: 200 },
  short: { "!": "short", value: -300 },
  uint: { "!": "unsignedint", value: 4_000_000_000 },
  float: { "!": "float", value: 1.5 },
  double: { "!": "double", value: 2.25 },
  at: { "!": "timestamp", value: 1_700_000_000 },
  price: { "!": "decimal", value: { places: 2, digits: 1999 } },
  text: "héllo 🌍",
  bytes: Buffer.from([0, 1, 254, 255]),
  yes: true,
  none: null,
  nested: { id: { "!": "long", value: ID }, list: [{ "!": "long", value: LONG_MAX }, "x", 1] },
};

/** What a handler sees of FOREIGN. */
const FOREIGN_AS_READ = {
  max: LONG_MAX,
  min: -(2n ** 63n),
  id: ID,
  small: 7,
  int: 5,
  ubyte: 200,
  short: -300,
  uint: 4_000_000_000,
  float: 1.5,
  double: 2.25,
  at: new Date(1_700_000_000_000),
  price: { "!": "decimal", value: { places: 2, digits: 1999 } },
  text: "héllo 🌍",
  bytes: Buffer.from([0, 1, 254, 255]),
  yes: true,
  none: null,
  nested: { id: ID, list: [LONG_MAX, "x", 1] },
};

/** The headers of a message without weir's and the broker's bookkeeping (`x-*`). */
function own(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([key]) => !key.startsWith("x-")));
}

describe("header values that do not survive the trip (issue #14.3)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  /** Consumes `queue` with a weir app until `count` messages arrived; returns their headers. */
  async function consumeHeaders(queue: string, count = 1): Promise<Record<string, unknown>[]> {
    const app = createApp();
    const seen: Record<string, unknown>[] = [];
    app.route([queue], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(m?.headers ?? {});
    });
    await app.start();
    await waitFor(() => seen.length >= count, 5000, "the messages");
    await app.stop();
    return seen;
  }

  it("kind date: a Date header is an AMQP timestamp and comes back a Date (whole seconds)", async () => {
    const queue = await broker.queue(uniqueName("hdr-date"));
    const rawQueue = await broker.queue(uniqueName("hdr-date-raw"));
    const app = createApp();
    const at = new Date(1_700_000_000_123);
    await app.amqp.publish({}, { routingKey: queue, headers: { at } });
    await app.amqp.publish({}, { routingKey: rawQueue, headers: { at } });
    await app.stop();
    // Another client (amqplib alone) sees a timestamp field, not the empty table weir used to send.
    const [raw] = await broker.getAll(rawQueue);
    expect(raw?.properties.headers?.at).toEqual({ "!": "timestamp", value: 1_700_000_000 });
    const [headers] = await consumeHeaders(queue);
    expect(headers?.at).toEqual(new Date(1_700_000_000_000));
    expect(headers?.at).toBeInstanceOf(Date);
  });

  it("kind bigint: a BigInt header travels as a signed 64-bit long, without loss", async () => {
    const queue = await broker.queue(uniqueName("hdr-bigint"));
    const app = createApp();
    await app.amqp.publish(
      {},
      { routingKey: queue, headers: { n: 1n, max: LONG_MAX, min: -(2n ** 63n), id: ID, huge: 2 ** 60 } },
    );
    await app.stop();
    const [headers] = await consumeHeaders(queue);
    // Integers within ±(2^53 - 1) read as numbers; a number beyond that went as a double and comes back the same.
    expect(headers).toEqual({ n: 1, max: LONG_MAX, min: -(2n ** 63n), id: ID, huge: 2 ** 60 });
    expect(headersToRepublish(headers)).toMatchObject({
      n: { "!": "long", value: 1n },
      max: { "!": "long", value: LONG_MAX },
      huge: { "!": "double", value: 2 ** 60 },
    });
  });

  it("kind long from another client: 64-bit integers are read without rounding, every type as sent", async () => {
    const queue = await broker.queue(uniqueName("hdr-foreign"));
    await broker.publish(queue, [{}], { headers: FOREIGN });
    const [headers] = await consumeHeaders(queue);
    expect(headers).toEqual(FOREIGN_AS_READ);
    expect(headers?.max).toBe(LONG_MAX);
    expect(headers?.id).toBe(ID);
  });

  it("kind nesting: nested tables, arrays, Buffers and unicode are kept; undefined is left out", async () => {
    const queue = await broker.queue(uniqueName("hdr-nested"));
    const app = createApp();
    const headers = {
      nested: { a: [1, "x", { b: true, at: new Date(86_400_000) }], empty: {}, list: [] },
      buffer: Buffer.from("bytes"),
      view: new Uint8Array([9, 8, 7]),
      text: "ünïcødé 🌍 日本語",
      fraction: -1.25,
      big: 4_000_000_000,
      nothing: null,
      gone: undefined,
    };
    await app.amqp.publish({}, { routingKey: queue, headers });
    await app.stop();
    const [got] = await consumeHeaders(queue);
    expect(got).toEqual({
      nested: { a: [1, "x", { b: true, at: new Date(86_400_000) }], empty: {}, list: [] },
      buffer: Buffer.from("bytes"),
      view: Buffer.from([9, 8, 7]),
      text: "ünïcødé 🌍 日本語",
      fraction: -1.25,
      big: 4_000_000_000,
      nothing: null,
    });
    expect(Object.hasOwn(got ?? {}, "gone")).toBe(false);
  });

  const refused: Array<[string, Record<string, unknown>, string]> = [
    ["a function", { f: () => 1 }, "headers.f"],
    ["a symbol", { s: Symbol("x") }, "headers.s"],
    ["a Map", { m: new Map() }, "headers.m"],
    ["a class instance", { e: new Error("x") }, "headers.e"],
    ["NaN", { n: Number.NaN }, "headers.n"],
    ["Infinity", { n: Number.POSITIVE_INFINITY }, "headers.n"],
    ["an invalid Date", { d: new Date("nope") }, "headers.d"],
    ["a Date before 1970", { d: new Date(-1000) }, "headers.d"],
    ["a BigInt beyond 64 bits", { b: 2n ** 63n }, "headers.b"],
    ["undefined in an array", { list: [1, undefined] }, "headers.list[1]"],
    ["a lone surrogate", { s: "a\uD800b" }, "headers.s"],
    ["a nested function", { "x-meta": { deep: [{ f: () => 1 }] } }, 'headers["x-meta"].deep[0].f'],
    ["a typed value of an unknown type", { t: { "!": "uuid", value: "x" } }, "headers.t"],
    ["a typed int out of range", { t: { "!": "int", value: 2 ** 31 } }, "headers.t"],
    ["a field name over 255 bytes", { ["k".repeat(256)]: 1 }, `headers.${"k".repeat(256)}`],
    ["headers over 64 KiB", { big: "x".repeat(70_000) }, "headers"],
  ];

  it.each(refused)(
    "kind refused: %s fails at the call with WEIR_ERR_PUBLISH_HEADER and its path, nothing sent",
    async (_, headers, path) => {
      const queue = await broker.queue(uniqueName("hdr-refused"));
      const app = createApp();
      const failure = app.amqp.publish({}, { routingKey: queue, headers });
      await expect(failure).rejects.toBeInstanceOf(HeaderValueError);
      await expect(failure).rejects.toBeInstanceOf(PublishError);
      await expect(failure).rejects.toMatchObject({ code: "WEIR_ERR_PUBLISH_HEADER", path });
      await app.amqp.publish({ ok: true }, { routingKey: queue });
      await app.stop();
      expect(await broker.count(queue)).toBe(1);
    },
  );

  it("kind cycle: headers that contain themselves are refused", async () => {
    const app = createApp();
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    await expect(app.amqp.publish({}, { routingKey: "q", headers: { loop } })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_HEADER",
      path: "headers.loop.self",
    });
    await app.stop();
  });

  it("kind retry: a retry republishes every header with the type it came with (the long unrounded)", async () => {
    const queue = await broker.queue(uniqueName("hdr-retry"));
    broker.track(`${queue}.retry.50`);
    broker.track(`${queue}.dlq`);
    await broker.publish(queue, [{}], { headers: FOREIGN });
    const app = createApp();
    const deliveries: AMQPMessage[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 50, floor: 50, ceiling: 50 }) },
      },
      async ([m]) => {
        if (m === undefined) return;
        deliveries.push(m);
        if (deliveries.length === 1) throw new Error("first attempt fails");
      },
    );
    await app.start();
    await waitFor(() => deliveries.length === 2, 10_000, "the retried delivery");
    await app.stop();
    const [first, second] = deliveries;
    expect(second?.attempt).toBe(2);
    expect(own(second?.headers)).toEqual(FOREIGN_AS_READ);
    expect(second?.headers.max).toBe(LONG_MAX);
    expect(second?.headers.id).toBe(ID);
    // Each value went back with its own AMQP type: a 32-bit int as an int, a small long as a long.
    expect(own(headersToRepublish(second?.headers))).toEqual(own(headersToRepublish(first?.headers)));
    expect(headersToRepublish(second?.headers)).toMatchObject({
      int: { "!": "int", value: 5 },
      small: { "!": "long", value: 7n },
      float: { "!": "float", value: 1.5 },
      at: { "!": "timestamp", value: 1_700_000_000n },
    });
  });

  it("kind dead letter: a dead letter and its replay keep every header as it came", async () => {
    const queue = await broker.queue(uniqueName("hdr-dlq"));
    broker.track(`${queue}.dlq`);
    await broker.publish(queue, [{}], { headers: FOREIGN });
    const app = createApp();
    const deliveries: AMQPMessage[] = [];
    app.route([queue], { type: RouteTypes.AMQP, deadLetter: true }, async ([m]) => {
      if (m === undefined) return;
      deliveries.push(m);
      if (deliveries.length === 1) throw new UnrecoverableError("to the dead-letter queue");
    });
    await app.start();
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    const [letter] = await app.amqp.listDeadLetters(queue);
    expect(own(letter?.headers)).toEqual(FOREIGN_AS_READ);
    expect(await app.amqp.replay(queue)).toMatchObject({ replayed: 1 });
    await waitFor(() => deliveries.length === 2, 5000, "the replayed delivery");
    await app.stop();
    const [first, replayed] = deliveries;
    expect(own(replayed?.headers)).toEqual(FOREIGN_AS_READ);
    expect(own(headersToRepublish(replayed?.headers))).toEqual(own(headersToRepublish(first?.headers)));
  });

  it("kind task: task.delay encodes headers like a publish", async () => {
    const name = uniqueName("hdr-task");
    broker.track(name);
    const app = createApp();
    const seen: Record<string, unknown>[] = [];
    const task = app.task(name, async (_payload, message) => {
      seen.push(message.headers);
    });
    await app.start();
    await task.delay({}, { headers: { at: new Date(1_700_000_000_000), id: ID } });
    await expect(task.delay({}, { headers: { f: () => 1 } })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_HEADER",
    });
    await waitFor(() => seen.length === 1, 5000, "the task run");
    await app.stop();
    expect(seen[0]).toMatchObject({ at: new Date(1_700_000_000_000), id: ID });
  });
});
