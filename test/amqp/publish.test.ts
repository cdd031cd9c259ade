import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { App, PublishError, RouteTypes } from "../../src/index.js";
import { Broker, connectionNames, createApp, silentLogger, uniqueName, waitFor } from "../helpers/amqp.js";

describe("app.amqp.publish", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("resolves once the broker confirmed: the message is on the queue", async () => {
    const queue = await broker.queue(uniqueName("publish"));
    const app = createApp();
    await app.amqp.publish(
      { order: 1 },
      { routingKey: queue, headers: { "x-origin": "test" }, messageId: "id-1" },
    );
    await app.amqp.publish(Buffer.from("raw bytes"), { routingKey: queue });
    expect(await broker.count(queue)).toBe(2);
    await app.stop();
  });

  it("round-trips objects as JSON and Buffers as bytes through a consumer", async () => {
    const queue = await broker.queue(uniqueName("roundtrip"));
    const app = createApp();
    const got: unknown[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, options: { bulkSize: 2, bulkFlushInterval: 200 } },
      async (messages) => {
        for (const m of messages) got.push(Buffer.isBuffer(m.body) ? `buffer:${m.body.toString()}` : m.body);
      },
    );
    await app.start();
    await Promise.all([
      app.amqp.publish({ a: [1, 2] }, { routingKey: queue }),
      app.amqp.publish(Buffer.from("xyz"), { routingKey: queue }),
    ]);
    await waitFor(() => got.length === 2);
    await app.stop();
    expect(got).toEqual([{ a: [1, 2] }, "buffer:xyz"]);
  });

  it("publishes a window of 1000 concurrently, every one confirmed", async () => {
    const queue = await broker.queue(uniqueName("window"));
    const app = createApp();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => app.amqp.publish({ i }, { routingKey: queue })));
    expect(await broker.count(queue)).toBe(1000);
    await app.stop();
  });

  it("publishes in call order across the channel's opening (none overtakes one waiting for it)", async () => {
    const queue = await broker.queue(uniqueName("open-order"));
    const app = createApp();
    // One publish per microtask, from before the connection exists until well after the channel
    // opened: on the in-memory broker the channel opens amid them, while earlier publishes are still
    // resuming from their wait (issue #16).
    const sent: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      const step = (): void => {
        if (sent.length === 300) {
          resolve();
          return;
        }
        sent.push(app.amqp.publish(sent.length, { routingKey: queue }));
        queueMicrotask(step);
      };
      step();
    });
    await Promise.all(sent);
    expect(await broker.drain(queue)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await app.stop();
  });

  it("rejects with a coded PublishError when the exchange does not exist, and keeps publishing after", async () => {
    const queue = await broker.queue(uniqueName("after-error"));
    const app = createApp();
    const failure = app.amqp.publish({ x: 1 }, { exchange: uniqueName("no-such-exchange"), routingKey: "k" });
    await expect(failure).rejects.toBeInstanceOf(PublishError);
    await expect(failure).rejects.toMatchObject({ code: expect.stringMatching(/^WEIR_ERR_PUBLISH_/) });
    await app.amqp.publish({ x: 2 }, { routingKey: queue });
    expect(await broker.count(queue)).toBe(1);
    await app.stop();
  });

  it("rejects with WEIR_ERR_PUBLISH_NOT_SENT (sent: false) when no broker answers within the timeout", async () => {
    const app = new App({
      logger: silentLogger,
      amqp: { url: "amqp://guest:guest@127.0.0.1:1", reconnect: { floor: 50, ceiling: 100 } },
    });
    const started = Date.now();
    await expect(app.amqp.publish({ x: 1 }, { routingKey: "q", timeout: 300 })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_NOT_SENT",
      reason: "no-connection",
      sent: false,
    });
    expect(Date.now() - started).toBeLessThan(2000);
    await app.stop();
  });

  it("over amqp.publishBuffer a publish waits for room, unwritten, and the call order is kept (issue 15.4)", async () => {
    const queue = await broker.queue(uniqueName("buffer"));
    const app = createApp({ amqp: { publishBuffer: { messages: 3, bytes: 2000 } } });
    const body = (i: number) => ({ i, pad: "x".repeat(500) });
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => app.amqp.publish(body(i), { routingKey: queue })),
    );
    const got = (await broker.drain(queue)) as { i: number }[];
    expect(got.map((m) => m.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await app.stop();
  });

  it("checks amqp.publishBuffer: whole numbers >= 1, known keys only", () => {
    expect(() => createApp({ amqp: { publishBuffer: { messages: 0 } } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "amqp.publishBuffer.messages" }),
    );
    expect(() => createApp({ amqp: { publishBuffer: { bytes: 1.5 } } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "amqp.publishBuffer.bytes" }),
    );
    const typo = { publishBuffer: { byte: 10 } } as unknown as { publishBuffer: { bytes: number } };
    expect(() => createApp({ amqp: typo })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "amqp.publishBuffer.byte" }),
    );
  });

  it("publishes on a connection of its own, apart from the routes' (issue 15.1)", async () => {
    const queue = await broker.queue(uniqueName("own-connection"));
    const name = uniqueName("own-connection-app");
    const app = createApp({ name });
    app.route([queue], { type: RouteTypes.AMQP }, async () => {});
    await app.start();
    expect(await connectionNames(name)).toEqual([`weir:${name}:/`]); // the publisher connects lazily
    await app.amqp.publish({ x: 1 }, { routingKey: uniqueName("nowhere"), mandatory: false });
    expect(await connectionNames(name)).toEqual([`weir:${name}:/`, `weir:${name}:/:publish`]);
    await app.stop();
  });

  it("rejects with WEIR_ERR_PUBLISH_CLOSED after the app stopped", async () => {
    const app = createApp();
    await app.stop();
    await expect(app.amqp.publish({ x: 1 }, { routingKey: "q" })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_CLOSED",
    });
  });
});
