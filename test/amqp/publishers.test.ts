import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  type AMQPMessage,
  type AMQPPublisher,
  PublishError,
  PublishSchemaError,
  RouteTypes,
} from "../../src/index.js";
import { Broker, connectionNames, createApp, uniqueName, waitFor } from "../helpers/amqp.js";

/** Typed publishers, `app.amqp.publisher(...)` (issue #17), on the test broker. */

const Order = z.object({
  id: z.number().int(),
  total: z.number().nonnegative(),
  currency: z.string().length(3),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("app.amqp.publisher", () => {
  let broker: Broker;
  let exchanges: string[];
  beforeEach(async () => {
    broker = await Broker.connect();
    exchanges = [];
  });
  afterEach(async () => {
    for (const exchange of exchanges) {
      await broker.withChannel((channel) => channel.deleteExchange(exchange)).catch(() => {});
    }
    await broker.close();
  });

  /** A topic exchange and a queue bound to it with `pattern`, both deleted after the test. */
  async function topic(prefix: string, pattern: string): Promise<{ exchange: string; queue: string }> {
    const exchange = uniqueName(`${prefix}-ex`);
    exchanges.push(exchange);
    const queue = await broker.queue(uniqueName(`${prefix}-q`));
    await broker.withChannel(async (channel) => {
      await channel.assertExchange(exchange, "topic", { durable: false });
      await channel.bindQueue(queue, exchange, pattern);
    });
    return { exchange, queue };
  }

  it("refuses a body its schema refuses (coded, nothing sent) and sends a valid one with its defaults", async () => {
    const { exchange, queue } = await topic("typed", "order.*");
    const app = createApp();
    const orders = app.amqp.publisher({
      name: "orderCreated",
      exchange,
      routingKey: "order.created",
      schema: Order,
      headers: { "x-source": "checkout" },
    });
    expectTypeOf(orders).toEqualTypeOf<AMQPPublisher<{ id: number; total: number; currency: string }>>();

    const refused = orders.publish({ id: 1.5, total: -1, currency: "EUR" });
    await expect(refused).rejects.toBeInstanceOf(PublishSchemaError);
    await expect(refused).rejects.toBeInstanceOf(PublishError);
    await expect(refused).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_SCHEMA",
      sent: false,
      publisher: "orderCreated",
      issues: [expect.objectContaining({ path: "id" }), expect.objectContaining({ path: "total" })],
    });
    await expect(refused).rejects.toThrow(
      /publisher "orderCreated": the body fails its schema: id: .*; total: /,
    );
    // A body that is not even an object: refused the same way.
    await expect(orders.publish("not an order" as never)).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_SCHEMA",
    });
    expect(await broker.count(queue)).toBe(0);

    await orders.publish({ id: 7, total: 30, currency: "EUR" });
    // One channel, in order: had the refused bodies been sent, they would be ahead of this one.
    const [message, ...rest] = await broker.getAll(queue);
    expect(rest).toEqual([]);
    expect(JSON.parse(message!.content.toString())).toEqual({ id: 7, total: 30, currency: "EUR" });
    expect(message!.fields).toMatchObject({ exchange, routingKey: "order.created" });
    expect(message!.properties).toMatchObject({
      headers: expect.objectContaining({ "x-source": "checkout" }),
      contentType: "application/json",
      deliveryMode: 2,
      messageId: expect.stringMatching(UUID),
    });
    expect(message!.properties.timestamp).toBeGreaterThan(Date.now() / 1000 - 60);
    await app.stop();
  });

  it("takes overrides over its defaults: routing key, headers merged, messageId, persistence, timestamp", async () => {
    const { exchange, queue } = await topic("overrides", "order.#");
    const app = createApp();
    const orders = app.amqp.publisher({
      exchange,
      routingKey: "order.created",
      headers: { "x-source": "checkout", "x-tenant": "acme" },
    });
    expect(orders.name).toBe(`${exchange}:order.created`);
    expectTypeOf(orders).toEqualTypeOf<AMQPPublisher<unknown>>();
    const at = new Date("2024-05-01T12:00:00.750Z");
    await orders.publish(
      { id: 1 },
      {
        routingKey: "order.paid.eu",
        headers: { "x-source": "backoffice", "x-extra": 1 },
        messageId: "order-1-paid",
        persistent: false,
        timestamp: at,
        // Given as undefined: the publisher's value stays.
        contentType: undefined,
      },
    );
    await orders.publish({ id: 2 });
    const [first, second] = await broker.getAll(queue);
    expect(first!.fields.routingKey).toBe("order.paid.eu");
    expect(first!.properties).toMatchObject({
      headers: { "x-source": "backoffice", "x-tenant": "acme", "x-extra": 1 },
      messageId: "order-1-paid",
      deliveryMode: 1,
      contentType: "application/json",
      timestamp: Math.floor(at.getTime() / 1000),
    });
    // The next publish has the publisher's own settings again.
    expect(second!.fields.routingKey).toBe("order.created");
    expect(second!.properties).toMatchObject({
      headers: { "x-source": "checkout", "x-tenant": "acme" },
      deliveryMode: 2,
      messageId: expect.stringMatching(UUID),
    });
    expect(second!.properties.messageId).not.toBe(first!.properties.messageId);
    await app.stop();
  });

  it("made before start, opens nothing until its first publish; a handler given it publishes typed bodies", async () => {
    const source = await broker.queue(uniqueName("handler-in"));
    const target = await broker.queue(uniqueName("handler-out"));
    const name = uniqueName("publisher-app");
    const app = createApp({ name });
    const receipts = app.amqp.publisher<{ order: number }>({ exchange: "", routingKey: target });
    expectTypeOf(receipts.publish).parameter(0).toEqualTypeOf<{ order: number }>();
    app.route([source], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ id: number }>[]) => {
      for (const m of messages) await receipts.publish({ order: m.body.id });
    });
    await app.start();
    expect(await connectionNames(name)).toEqual([`weir:${name}:/`]);
    await broker.publish(source, [{ id: 1 }, { id: 2 }]);
    await waitFor(async () => (await broker.count(target)) === 2, 5000, "two receipts");
    expect(await connectionNames(name)).toEqual([`weir:${name}:/`, `weir:${name}:/:publish`]);
    await app.stop();
    expect(await broker.drain(target)).toEqual([{ order: 1 }, { order: 2 }]);
  });

  it("refuses unknown keys and bad values with WEIR_ERR_INVALID_OPTION naming them, sending nothing", async () => {
    const queue = await broker.queue(uniqueName("invalid"));
    const app = createApp();
    const invalid = (options: unknown) => () => app.amqp.publisher(options as { exchange: string });
    const refused = (option: string) => expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option });
    expect(invalid({ exchange: "", routingkey: queue })).toThrow(refused("publisher.routingkey"));
    expect(invalid({ exchange: "", routingkey: queue })).toThrow(/did you mean "routingKey"/);
    expect(invalid({ routingKey: queue })).toThrow(refused("publisher.exchange"));
    expect(invalid({ exchange: 7 })).toThrow(refused("publisher.exchange"));
    expect(invalid({ exchange: "", messageId: "fixed" })).toThrow(refused("publisher.messageId"));
    expect(invalid({ exchange: "", priority: 256 })).toThrow(refused("publisher.priority"));
    expect(invalid({ exchange: "", expiration: -1 })).toThrow(refused("publisher.expiration"));
    expect(invalid({ exchange: "", timeout: 0 })).toThrow(refused("publisher.timeout"));
    expect(invalid({ exchange: "", schema: { parse() {} } })).toThrow(refused("publisher.schema"));
    expect(invalid({ exchange: "", name: "" })).toThrow(refused("publisher.name"));
    expect(invalid({ exchange: "", persistent: "yes" })).toThrow(refused("publisher.persistent"));
    expect(invalid(undefined)).toThrow(refused("publisher"));
    expect(invalid({ exchange: "", headers: { bad: Number.NaN } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_PUBLISH_HEADER" }),
    );

    const publisher = app.amqp.publisher({ exchange: "", routingKey: queue });
    const override = (overrides: unknown) => publisher.publish({ x: 1 }, overrides as { priority: number });
    await expect(override({ exchange: "amq.topic" })).rejects.toMatchObject(
      refused("publisher.publish.exchange"),
    );
    await expect(override({ vhost: "/" })).rejects.toMatchObject(refused("publisher.publish.vhost"));
    await expect(override({ priorty: 1 })).rejects.toMatchObject(refused("publisher.publish.priorty"));
    await expect(override({ priority: 1.5 })).rejects.toMatchObject(refused("publisher.publish.priority"));
    await expect(override({ expiration: "60000" })).rejects.toMatchObject(
      refused("publisher.publish.expiration"),
    );
    expect(await broker.count(queue)).toBe(0);
    await app.stop();
  });

  it("validates with an async schema too", async () => {
    const queue = await broker.queue(uniqueName("async-schema"));
    const app = createApp();
    const Positive = z.object({ n: z.number() }).refine(async (value) => value.n > 0, "n must be > 0");
    const publisher = app.amqp.publisher({ exchange: "", routingKey: queue, schema: Positive });
    await expect(publisher.publish({ n: -1 })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_SCHEMA",
      issues: [{ path: "", message: "n must be > 0" }],
    });
    await publisher.publish({ n: 1 });
    expect(await broker.drain(queue)).toEqual([{ n: 1 }]);
    await app.stop();
  });
});
