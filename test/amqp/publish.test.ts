import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AMQPMessage,
  App,
  ConstantBackoff,
  PublishError,
  type PublishOptions,
  RouteTypes,
} from "../../src/index.js";
import {
  Broker,
  connectionNames,
  createApp,
  silentLogger,
  sleep,
  uniqueName,
  waitFor,
} from "../helpers/amqp.js";
import { differs } from "../helpers/broker-differences.js";
import { TEST_BROKER } from "../helpers/test-broker.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** `it`, skipped on the test broker when it deliberately differs, with the reason in the name. */
function shared(name: string, run: () => Promise<void>): void {
  const reason = differs(TEST_BROKER, name);
  it.skipIf(reason !== undefined)(reason === undefined ? name : `${name} [differs: ${reason}]`, run);
}

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

  it("gives every message a messageId (a new UUID unless one is given) and a timestamp (default: now)", async () => {
    const queue = await broker.queue(uniqueName("ids"));
    const app = createApp();
    const before = Math.floor(Date.now() / 1000);
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    await app.amqp.publish({ n: 2 }, { routingKey: queue, messageId: "mine", timestamp: 1_700_000_000_999 });
    await app.amqp.publish({ n: 3 }, { routingKey: queue, timestamp: new Date("2024-05-01T12:00:00.750Z") });
    const after = Math.ceil(Date.now() / 1000);
    const messages = await broker.getAll(queue);
    const ids = messages.map((message) => message.properties.messageId as string);
    expect(ids[0]).toMatch(UUID);
    expect(ids[1]).toMatch(UUID);
    expect(ids[3]).toMatch(UUID);
    expect(new Set([ids[0], ids[1], ids[3]]).size).toBe(3);
    expect(ids[2]).toBe("mine");
    const stamps = messages.map((message) => message.properties.timestamp as number);
    // AMQP timestamps are whole seconds.
    for (const stamp of [stamps[0]!, stamps[1]!]) {
      expect(stamp).toBeGreaterThanOrEqual(before);
      expect(stamp).toBeLessThanOrEqual(after);
    }
    expect(stamps[2]).toBe(1_700_000_000);
    expect(stamps[3]).toBe(Date.UTC(2024, 4, 1, 12) / 1000);
    await app.stop();
  });

  it("a once route acks a re-published copy of a message weir published (same generated messageId) unprocessed", async () => {
    const queue = await broker.queue(uniqueName("once-default"));
    const app = createApp();
    const handled: Array<{ n: number; id: unknown }> = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, once: { ttl: 60_000 } },
      async (messages: AMQPMessage<{ n: number }>[]) => {
        for (const m of messages) handled.push({ n: m.body.n, id: m.properties.messageId });
      },
    );
    await app.start();
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    await waitFor(() => handled.length === 1, 5000, "the first message");
    const id = handled[0]!.id as string;
    expect(id).toMatch(UUID);
    // The copy a producer sends again after an UNCONFIRMED publish: same id, acked unprocessed.
    await app.amqp.publish({ n: 1 }, { routingKey: queue, messageId: id });
    // The same body published anew is a new message: its own id.
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    await waitFor(() => handled.length === 2, 5000, "the new message");
    await waitFor(async () => (await broker.count(queue)) === 0, 5000, "the queue to empty");
    await sleep(100); // a wrongly processed copy would show up here
    await app.stop();
    expect(handled.map((entry) => entry.n)).toEqual([1, 1]);
    expect(handled[1]!.id).not.toBe(id);
    expect(app.health().transports[0]?.routes[0]).toMatchObject({ duplicates: 1 });
  });

  it("retries, dead letters and replays keep the messageId and timestamp weir gave the message", async () => {
    const queue = await broker.queue(uniqueName("keep-id"));
    // weir declares these; declared here with weir's exact arguments, so they are deleted after.
    await broker.queue(`${queue}.retry.100`, {
      "x-message-ttl": 100,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": queue,
      "x-expires": 100 * 2 + 60_000,
    });
    await broker.queue(`${queue}.dlq`);
    const app = createApp();
    const seen: Array<{ id: unknown; timestamp: unknown; attempt: number }> = [];
    let failing = true;
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 100, floor: 100, ceiling: 100 }) },
      },
      async ([m]: AMQPMessage[]) => {
        seen.push({ id: m!.properties.messageId, timestamp: m!.properties.timestamp, attempt: m!.attempt });
        if (failing) throw new Error("not yet");
      },
    );
    await app.start();
    await app.amqp.publish({ order: 1 }, { routingKey: queue, timestamp: new Date("2024-05-01T12:00:00Z") });
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    const [letter] = await app.amqp.listDeadLetters(queue);
    failing = false;
    expect(await app.amqp.replay(queue)).toMatchObject({ replayed: 1 });
    await waitFor(() => seen.length === 3, 5000, "the replayed message");
    await app.stop();
    const id = seen[0]!.id;
    expect(id).toMatch(UUID);
    const timestamp = Date.UTC(2024, 4, 1, 12) / 1000;
    expect(seen).toEqual([
      { id, timestamp, attempt: 1 },
      { id, timestamp, attempt: 2 },
      { id, timestamp, attempt: 1 },
    ]);
    expect(letter!.properties).toMatchObject({ messageId: id, timestamp });
  });

  shared("a priority queue (x-max-priority) delivers higher priorities first", async () => {
    const queue = await broker.queue(uniqueName("priority"), { "x-max-priority": 10 });
    const app = createApp();
    for (const n of [1, 2, 3]) await app.amqp.publish({ n }, { routingKey: queue });
    await app.amqp.publish({ n: 4 }, { routingKey: queue, priority: 9 });
    await app.amqp.publish({ n: 5 }, { routingKey: queue, priority: 5 });
    const messages = await broker.getAll(queue);
    expect(messages.map((message) => JSON.parse(message.content.toString()).n)).toEqual([4, 5, 1, 2, 3]);
    expect(messages.map((message) => message.properties.priority)).toEqual([
      9,
      5,
      undefined,
      undefined,
      undefined,
    ]);
    await app.stop();
  });

  it("drops a message whose expiration passes in the queue; the expiration travels as a string of ms", async () => {
    const queue = await broker.queue(uniqueName("expiration"));
    const kept = await broker.queue(uniqueName("expiration-kept"));
    const app = createApp();
    await app.amqp.publish({ n: 1 }, { routingKey: queue, expiration: 100 });
    await app.amqp.publish({ n: 2 }, { routingKey: kept, expiration: 60_000 });
    await waitFor(async () => (await broker.count(queue)) === 0, 5000, "the message to expire");
    const [message] = await broker.getAll(kept);
    expect(message!.properties.expiration).toBe("60000");
    await app.stop();
  });

  it("refuses a bad priority, expiration or timestamp with WEIR_ERR_INVALID_OPTION naming it, sending nothing", async () => {
    const queue = await broker.queue(uniqueName("bad-options"));
    const app = createApp();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ priority: 256 }, "publish.priority"],
      [{ priority: -1 }, "publish.priority"],
      [{ priority: 1.5 }, "publish.priority"],
      [{ priority: "5" }, "publish.priority"],
      [{ expiration: -1 }, "publish.expiration"],
      [{ expiration: 1.5 }, "publish.expiration"],
      [{ expiration: "100" }, "publish.expiration"],
      [{ expiration: Number.POSITIVE_INFINITY }, "publish.expiration"],
      [{ timestamp: Number.NaN }, "publish.timestamp"],
      [{ timestamp: -1 }, "publish.timestamp"],
      [{ timestamp: new Date("not a date") }, "publish.timestamp"],
      [{ timestamp: "2024-05-01" }, "publish.timestamp"],
      [{ expires: 100 }, "publish.expires"],
    ];
    for (const [options, option] of cases) {
      await expect(
        app.amqp.publish({ x: 1 }, { routingKey: queue, ...options } as PublishOptions),
        JSON.stringify(options),
      ).rejects.toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option });
    }
    // The bounds themselves are fine.
    await app.amqp.publish({ x: 2 }, { routingKey: queue, priority: 255, expiration: 60_000, timestamp: 0 });
    await app.amqp.publish({ x: 3 }, { routingKey: queue, priority: 0 });
    expect(await broker.drain(queue)).toEqual([{ x: 2 }, { x: 3 }]);
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
