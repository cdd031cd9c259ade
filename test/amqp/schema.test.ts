import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { isStandardSchema, validateWith } from "../../src/core/schema.js";
import {
  type AMQPHandler,
  type AMQPMessage,
  RouteTypes,
  type StandardSchemaV1,
  WeirHeaders,
} from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

const Order = z.object({
  id: z.number().int(),
  qty: z.number().positive().default(1),
  note: z.string().optional(),
});

/** A hand-written Standard Schema with an async validate: no library needed. */
const asyncEven: StandardSchemaV1<unknown, { n: number }> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate: async (value) => {
      await sleep(1);
      const n = (value as { n?: unknown })?.n;
      return typeof n === "number" && n % 2 === 0
        ? { value: { n } }
        : { issues: [{ message: "odd", path: ["n"] }] };
    },
  },
};

describe("schema helper", () => {
  it("validates sync and async schemas, flattens issue paths, reports a throwing schema as an issue", async () => {
    expect(isStandardSchema(Order)).toBe(true);
    expect(isStandardSchema({ parse: () => 1 })).toBe(false);
    expect(validateWith(Order, { id: 1 })).toEqual({ ok: true, value: { id: 1, qty: 1 } });
    const bad = await validateWith(Order, { id: "x", qty: -1 });
    expect(bad.ok).toBe(false);
    expect(bad.ok ? [] : bad.issues.map((i) => i.path).sort()).toEqual(["id", "qty"]);
    expect(await validateWith(asyncEven, { n: 3 })).toEqual({
      ok: false,
      issues: [{ path: "n", message: "odd" }],
    });
    const throwing: StandardSchemaV1 = {
      "~standard": {
        version: 1,
        vendor: "t",
        validate: () => {
          throw new Error("kaput");
        },
      },
    };
    expect(validateWith(throwing, 1)).toEqual({
      ok: false,
      issues: [{ path: "", message: "the schema threw: kaput" }],
    });
  });
});

describe("AMQP route schema (Standard Schema v1)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("infers the handler's body type from the schema and hands over the schema's output", async () => {
    const queue = await broker.queue(uniqueName("schema-ok"));
    const app = createApp();
    const bodies: z.infer<typeof Order>[] = [];
    const handler = app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        schema: Order,
        once: { ttl: 1000, key: (m) => String(m.body.id) }, // the key sees the typed body too
        options: { bulkSize: 2, bulkFlushInterval: 50 },
      },
      async (messages) => {
        expectTypeOf(messages[0]!.body).toEqualTypeOf<{
          id: number;
          qty: number;
          note?: string | undefined;
        }>();
        for (const m of messages) bodies.push(m.body);
      },
    );
    expectTypeOf(handler).toEqualTypeOf<
      AMQPHandler<{ id: number; qty: number; note?: string | undefined }>
    >();
    await app.start();
    await broker.publish(queue, [{ id: 1 }, { id: 2, qty: 5 }]);
    await waitFor(() => bodies.length === 2, 5000, "2 bodies");
    await app.stop();
    expect(bodies).toEqual([
      { id: 1, qty: 1 },
      { id: 2, qty: 5 },
    ]);
  });

  it("a body that fails never reaches the handler: it is dead-lettered with its issues", async () => {
    const queue = await broker.queue(uniqueName("schema-dlq"));
    await broker.queue(`${queue}.dlq`);
    const app = createApp();
    const handled: unknown[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        schema: Order,
        deadLetter: true,
        options: { bulkSize: 3, bulkFlushInterval: 50 },
      },
      async (messages) => {
        for (const m of messages) handled.push(m.body.id);
      },
    );
    await app.start();
    await broker.publish(queue, [{ id: 1 }, { id: "two", qty: 0 }, { id: 3 }]);
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    await waitFor(() => handled.length === 2, 5000, "the valid ones");
    await app.stop();
    expect(handled).toEqual([1, 3]);
    const [letter] = await broker.getAll(`${queue}.dlq`);
    const headers = letter!.properties.headers ?? {};
    expect(JSON.parse(letter!.content.toString())).toEqual({ id: "two", qty: 0 });
    expect(headers[WeirHeaders.REASON]).toBe("schema");
    expect(headers[WeirHeaders.ERROR_CODE]).toBe("WEIR_ERR_SCHEMA_VALIDATION");
    expect(headers[WeirHeaders.ATTEMPTS]).toBe(0);
    const issues = JSON.parse(String(headers[WeirHeaders.ISSUES])) as { path: string; message: string }[];
    expect(issues.map((issue) => issue.path).sort()).toEqual(["id", "qty"]);
    expect(String(headers[WeirHeaders.ERROR])).toMatch(/^the body fails the schema: /);
    // A stopped app's dead-letter API refuses, with a code.
    await expect(app.amqp.listDeadLetters(queue)).rejects.toMatchObject({ code: "WEIR_ERR_PUBLISH_CLOSED" });
  });

  it("without a dead-letter queue a failing body is rejected without requeue (async schema)", async () => {
    const dlx = await broker.queue(uniqueName("schema-dlx"));
    const queue = await broker.queue(uniqueName("schema-reject"), {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": dlx,
    });
    const app = createApp();
    const handled: number[] = [];
    app.route([queue], { type: RouteTypes.AMQP, schema: asyncEven }, async ([m]) => {
      handled.push(m!.body.n);
    });
    await app.start();
    await broker.publish(queue, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await waitFor(
      async () => (await broker.count(dlx)) === 2 && handled.length === 2,
      5000,
      "2 rejected, 2 handled",
    );
    await sleep(100);
    await app.stop();
    expect(handled).toEqual([2, 4]);
    expect(await broker.drain(dlx)).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it("type checks: a handler annotated with another body type does not compile", () => {
    const app = createApp();
    const queue = uniqueName("types");
    app.route(
      [queue],
      // @ts-expect-error the schema says { id, qty, note? }, the handler says { other: string }
      { type: RouteTypes.AMQP, schema: Order },
      async (_: AMQPMessage<{ other: string }>[]) => {},
    );
    // Without a schema the body type comes from the annotation, as before.
    const plain = app.route(
      [queue],
      { type: RouteTypes.AMQP },
      async (_: AMQPMessage<{ other: string }>[]) => {},
    );
    expectTypeOf(plain).toEqualTypeOf<AMQPHandler<{ other: string }>>();
    expect(app.routes).toHaveLength(2);
  });
});
