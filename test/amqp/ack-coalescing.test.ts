import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, type App, RouteTypes } from "../../src/index.js";
import { Broker, createApp, dropConnections, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { queueMessages } from "../helpers/rabbitmqctl.js";

/**
 * Coalesced acks (issue #19) on RabbitMQ: what the broker holds and redelivers shows that weir's
 * fewer `basic.ack` frames never settle a message that was not settled positively, never hold back a
 * reject, are written before a stop closes the channel, and die with a lost channel.
 */
describe("AMQP: coalesced acks", () => {
  let broker: Broker;
  let queue: string;
  let app: App | undefined;
  const name = uniqueName("acks").replaceAll(".", "-");

  beforeEach(async () => {
    broker = await Broker.connect();
    queue = await broker.queue(uniqueName("acks"));
  });

  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await broker.close();
  });

  type Seen = { n: number; redelivered: boolean; at: number };
  const record = (seen: Seen[], m: AMQPMessage<{ n: number }>) =>
    seen.push({ n: m.body.n, redelivered: m.redelivered, at: Date.now() });
  const bodies = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

  it("refuses an ackWindow that is not a number of ms >= 0 or false, at new App()", () => {
    for (const ackWindow of [-1, Number.NaN, "5", true]) {
      expect(() => createApp({ amqp: { ackWindow: ackWindow as number } }), String(ackWindow)).toThrow(
        expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
      );
    }
    expect(() => createApp({ amqp: { ackWindow: false } })).not.toThrow();
  });

  it("an ack never covers a delivery still in a handler: only that one comes back after the connection drops", async () => {
    await broker.publish(queue, bodies(10));
    app = createApp({ name, amqp: { ackWindow: 0 } });
    const seen: Seen[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 10, options: { bulkSize: 1, concurrency: 2 } },
      async ([m]: AMQPMessage<{ n: number }>[]) => {
        record(seen, m!);
        if (m!.body.n === 0 && !m!.redelivered) await held;
      },
    );
    await app.start();
    await waitFor(() => seen.length === 10, 10_000, "every message in a handler");
    // Nine acked (coalesced), message 0 still in its handler: the broker holds exactly one unacked.
    await waitFor(async () => (await queueMessages(queue)) === 1, 10_000, "one unacked message");
    await waitFor(async () => (await dropConnections(`weir:${name}:`)) > 0, 10_000, "the drop");
    await waitFor(() => seen.length === 11, 15_000, "the redelivery of the held message");
    release();
    await sleep(500);
    expect(seen.slice(10)).toEqual([expect.objectContaining({ n: 0, redelivered: true })]);
    expect(seen.filter((s) => s.redelivered)).toHaveLength(1);
    await waitFor(async () => (await queueMessages(queue)) === 0, 10_000, "nothing left");
  });

  it("a requeue is written at once, not held behind acks waiting for a long ackWindow (30 s)", async () => {
    await broker.publish(queue, bodies(3));
    app = createApp({ name, amqp: { ackWindow: 30_000 }, shutdownTimeout: 5_000 });
    const seen: Seen[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 10, options: { bulkSize: 1 } },
      async ([m]: AMQPMessage<{ n: number }>[]) => {
        record(seen, m!);
        if (m!.body.n === 1 && !m!.redelivered) m!.reject();
      },
    );
    await app.start();
    await waitFor(() => seen.length === 4, 10_000, "the requeued message back");
    const [first, again] = seen.filter((s) => s.n === 1);
    expect(again?.redelivered).toBe(true);
    expect((again?.at ?? 0) - (first?.at ?? 0)).toBeLessThan(1_500);
    // The acks of 0, 2 and the redelivered 1 wait for the window: the broker still holds them.
    expect(await queueMessages(queue)).toBe(3);
    await app.stop();
    expect(await queueMessages(queue)).toBe(0);
  });

  it("stop() writes the acks still waiting before it closes the channel: nothing is requeued", async () => {
    await broker.publish(queue, bodies(20));
    app = createApp({ name, amqp: { ackWindow: 20_000 }, shutdownTimeout: 5_000 });
    const seen: Seen[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 50, options: { bulkSize: 1 } },
      async ([m]: AMQPMessage<{ n: number }>[]) => {
        record(seen, m!);
      },
    );
    await app.start();
    await waitFor(() => seen.length === 20, 10_000, "every message handled");
    expect(await queueMessages(queue)).toBe(20);
    const started = Date.now();
    await app.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await broker.count(queue)).toBe(0);
    expect(await queueMessages(queue)).toBe(0);
  });

  it("a lost channel abandons its waiting acks: each message comes back once, flagged, and the new channel's acks are its own", {
    timeout: 60_000,
  }, async () => {
    await broker.publish(queue, bodies(5));
    // Far longer than the test: the acks can only be written by the stop, or lost with the channel.
    app = createApp({ name, amqp: { ackWindow: 60_000 }, shutdownTimeout: 5_000 });
    const seen: Seen[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 10, options: { bulkSize: 1 } },
      async ([m]: AMQPMessage<{ n: number }>[]) => {
        record(seen, m!);
      },
    );
    await app.start();
    await waitFor(() => seen.length === 5, 10_000, "the first deliveries");
    await waitFor(async () => (await dropConnections(`weir:${name}:`)) > 0, 10_000, "the drop");
    await waitFor(() => seen.length === 10, 20_000, "the redeliveries");
    expect(seen.slice(5).every((s) => s.redelivered)).toBe(true);
    expect(seen.slice(5).map((s) => s.n)).toEqual([0, 1, 2, 3, 4]);
    // The stop writes the new channel's acks (an old tag written on it would close it with 406
    // and requeue everything): nothing is left, and nothing came a third time.
    await app.stop();
    expect(await queueMessages(queue)).toBe(0);
    expect(seen).toHaveLength(10);
  });
});
