import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, type RouteHealth, RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

/**
 * Issue #14, kind 5: queue types that refuse a channel-wide prefetch. Quorum and stream queues
 * answer a consume under a global `basic.qos` by closing the whole connection (540), which took
 * down every route and the publisher of the vhost with a bare "Channel ended".
 */

function routeHealth(app: App, name: string): RouteHealth {
  const route = app
    .health()
    .transports.flatMap((transport) => transport.routes)
    .find((candidate) => candidate.name === name);
  if (route === undefined) throw new Error(`no route ${name}`);
  return route;
}

/** A handler that holds every message until `release()`: the messages it holds are the unacked ones. */
function holdingHandler(): { held: () => number; release: () => void; handler: () => Promise<void> } {
  let held = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    held: () => held,
    release,
    handler: async () => {
      held++;
      await gate;
    },
  };
}

describe("AMQP queue types and QoS (issue #14)", () => {
  let broker: Broker;
  let apps: App[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    apps = [];
    await broker.close();
  });

  function app(): App {
    const created = createApp({ shutdownTimeout: 1000 });
    apps.push(created);
    return created;
  }

  it("queue types that refuse a channel-wide prefetch: a route over two quorum queues starts beside an unrelated route, prefetch bounds it across both", async () => {
    const q1 = await broker.queue(uniqueName("quorum-a"), { "x-queue-type": "quorum" });
    const q2 = await broker.queue(uniqueName("quorum-b"), { "x-queue-type": "quorum" });
    const other = await broker.queue(uniqueName("unrelated"));
    await broker.publish(
      q1,
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
    await broker.publish(
      q2,
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
    const worker = app();
    const hold = holdingHandler();
    worker.route(
      [q1, q2],
      { type: RouteTypes.AMQP, prefetch: 4, options: { concurrency: 20 } },
      hold.handler,
    );
    const seen: unknown[] = [];
    worker.route([other], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(m?.body);
    });
    await worker.start();
    await waitFor(() => hold.held() === 4, 5000, "4 held messages");
    await sleep(300); // more would arrive now if the bound did not hold across both queues
    expect(hold.held()).toBe(4);
    expect((await broker.count(q1)) + (await broker.count(q2))).toBe(16);
    // The unrelated route and the publisher share the connection, and it is alive.
    await worker.amqp.publish({ hello: 1 }, { routingKey: other });
    await waitFor(() => seen.length === 1, 5000, "the unrelated route's message");
    expect(routeHealth(worker, `${q1},${q2}`)).toMatchObject({ ready: true, reconnects: 0 });
    hold.release();
    await waitFor(
      async () => (await broker.count(q1)) + (await broker.count(q2)) === 0,
      5000,
      "both drained",
    );
  });

  it("a route over a classic and a quorum queue: each queue gets its share, the sum is the prefetch", async () => {
    const classic = await broker.queue(uniqueName("mix-classic"));
    const quorum = await broker.queue(uniqueName("mix-quorum"), { "x-queue-type": "quorum" });
    await broker.publish(
      classic,
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
    await broker.publish(
      quorum,
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
    const worker = app();
    const hold = holdingHandler();
    worker.route(
      [classic, quorum],
      { type: RouteTypes.AMQP, prefetch: 5, options: { concurrency: 20 } },
      hold.handler,
    );
    await worker.start();
    await waitFor(() => hold.held() === 5, 5000, "5 held messages");
    await sleep(300);
    expect(hold.held()).toBe(5);
    // 5 over two queues: 3 on the first, 2 on the second.
    expect(await broker.count(classic)).toBe(7);
    expect(await broker.count(quorum)).toBe(8);
    hold.release();
  });

  it("a bulk over several queues is capped at one queue's share, so one busy queue fills it without waiting for the flush", async () => {
    const busy = await broker.queue(uniqueName("share-busy"), { "x-queue-type": "quorum" });
    const idle = await broker.queue(uniqueName("share-idle"), { "x-queue-type": "quorum" });
    await broker.publish(
      busy,
      Array.from({ length: 12 }, (_, i) => ({ i })),
    );
    const worker = app();
    const sizes: number[] = [];
    worker.route(
      [busy, idle],
      { type: RouteTypes.AMQP, prefetch: 8, options: { bulkSize: 10, bulkFlushInterval: 60_000 } },
      async (messages) => {
        sizes.push(messages.length);
      },
    );
    await worker.start();
    await waitFor(() => sizes.reduce((a, b) => a + b, 0) === 12, 5000, "12 messages in full bulks");
    expect(sizes).toEqual([4, 4, 4]);
  });

  it("a route over a stream queue stops with WEIR_ERR_STREAM_QUEUE before any reject, and the shared connection lives", async () => {
    const stream = await broker.queue(uniqueName("stream"), { "x-queue-type": "stream" });
    const other = await broker.queue(uniqueName("beside-stream"));
    const worker = app();
    let calls = 0;
    worker.route([stream], { type: RouteTypes.AMQP }, async () => {
      calls++;
      throw new Error("requeue me"); // a requeue on a stream closes the whole connection (540)
    });
    const seen: unknown[] = [];
    worker.route([other], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(m?.body);
    });
    await worker.start();
    // A stream is consumed from its next message on, and known by its deliveries' x-stream-offset.
    await broker.publish(stream, [{ n: 1 }, { n: 2 }]);
    await waitFor(() => routeHealth(worker, stream).error !== undefined, 5000, "the stream route to stop");
    expect(routeHealth(worker, stream)).toMatchObject({
      ready: false,
      error: { code: "WEIR_ERR_STREAM_QUEUE", message: expect.stringContaining(stream) },
    });
    expect(calls).toBe(0);
    expect(worker.health().ready).toBe(false);
    await worker.amqp.publish({ after: true }, { routingKey: other });
    await waitFor(() => seen.length === 1, 5000, "the other route's message");
    expect(routeHealth(worker, other)).toMatchObject({ ready: true, reconnects: 0 });
  });

  it("a route that declares a stream queue is refused at registration with WEIR_ERR_STREAM_QUEUE", () => {
    const worker = app();
    expect(() =>
      worker.route(
        [uniqueName("declared-stream")],
        { type: RouteTypes.AMQP, declare: { arguments: { "x-queue-type": "stream" } } },
        async () => {},
      ),
    ).toThrow(expect.objectContaining({ code: "WEIR_ERR_STREAM_QUEUE" }));
  });

  it("a declare the broker refuses names the broker's reason, not only 'other arguments'", async () => {
    const name = uniqueName("quorum-autodelete");
    const worker = app();
    worker.route(
      [name],
      { type: RouteTypes.AMQP, declare: { autoDelete: true, arguments: { "x-queue-type": "quorum" } } },
      async () => {},
    );
    await expect(worker.start()).rejects.toMatchObject({
      code: "WEIR_ERR_QUEUE_DECLARE",
      message: expect.stringContaining("invalid property 'auto-delete'"),
    });
  });
});
