import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

describe("stop() drains (nestjs #4076, @golevelup #688: in-flight messages lost on shutdown)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("finishes the bulk in the handler, hands over every received message, acks all, loses none", async () => {
    const queue = await broker.queue(uniqueName("drain"));
    const ids = Array.from({ length: 23 }, (_, i) => i);
    await broker.publish(queue, ids);
    const app = createApp();
    const processed: number[] = [];
    let inHandler = false;
    app.route(
      [queue],
      { type: RouteTypes.AMQP, options: { bulkSize: 5, bulkFlushInterval: 60_000 } },
      async (messages) => {
        inHandler = true;
        await sleep(300);
        for (const m of messages) processed.push(m.body as number);
      },
    );
    await app.start();
    await waitFor(() => inHandler, 3000, "the first bulk to start");
    await app.stop(); // 23 were prefetched: 4 full bulks and a partial one of 3
    expect(processed.sort((a, b) => a - b)).toEqual(ids);
    expect(await broker.count(queue)).toBe(0);
  });

  it("requeues what has not started by the deadline, and a handler that never returns does not block stop", async () => {
    const queue = await broker.queue(uniqueName("deadline"));
    await broker.publish(
      queue,
      Array.from({ length: 15 }, (_, i) => i),
    );
    const app = createApp({ shutdownTimeout: 300 });
    let started = 0;
    app.route([queue], { type: RouteTypes.AMQP, options: { bulkSize: 5 } }, async () => {
      started++;
      await new Promise(() => {}); // never returns
    });
    await app.start();
    await waitFor(() => started === 1, 3000, "the first bulk to start");
    const t0 = Date.now();
    await app.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(started).toBe(1);
    // 5 in the stuck handler (returned by the channel close) + 10 never started (nacked with requeue)
    await waitFor(async () => (await broker.count(queue)) === 15, 3000, "all 15 back on the queue");
  });

  it("a multiple ack never covers messages still in another handler (concurrency 2)", async () => {
    const queue = await broker.queue(uniqueName("multiple-ack"));
    await broker.publish(
      queue,
      Array.from({ length: 10 }, (_, i) => i),
    );
    const app = createApp({ shutdownTimeout: 300 });
    let finished = 0;
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 10, options: { bulkSize: 5, concurrency: 2 } },
      async (messages) => {
        if (messages[0]?.body === 0) await new Promise(() => {}); // the older bulk hangs
        finished += messages.length;
      },
    );
    await app.start();
    await waitFor(() => finished === 5, 3000, "the newer bulk to finish");
    await sleep(100);
    await app.stop();
    // Only the hanging bulk's 5 come back; had the newer bulk acked "up to tag 10", they would be gone.
    await waitFor(async () => (await broker.count(queue)) === 5, 3000, "the 5 unacked messages back");
    expect(await broker.drain(queue)).toEqual([0, 1, 2, 3, 4]);
  });

  it("stop() called twice returns the same promise", async () => {
    const app = createApp();
    const first = app.stop();
    expect(app.stop()).toBe(first);
    await first;
  });
});
