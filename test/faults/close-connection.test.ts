import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { closeConnections } from "../helpers/rabbitmqctl.js";
import { report } from "./report.js";

const TOTAL = 20_000;
const CLOSES = 5;

describe("fault: the broker closes the worker's connection (rascal #175, amqp-connection-manager #378)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it(`processes all ${TOTAL} ids at least once through ${CLOSES} connection closes; duplicates are redeliveries`, async () => {
    const queue = await broker.queue(uniqueName("close-conn"));
    const ids = Array.from({ length: TOTAL }, (_, id) => ({ id }));
    for (let i = 0; i < TOTAL; i += 2000) await broker.publish(queue, ids.slice(i, i + 2000));
    const name = uniqueName("worker");
    const app = createApp({ name, amqp: { reconnect: { floor: 50, ceiling: 500 } } });
    const seen = new Map<number, number>();
    const redeliveredIds = new Set<number>();
    let processed = 0;
    // Held while a close is under way: rabbitmqctl takes seconds under load, and a worker left running
    // meanwhile could finish the queue before the close lands, leaving nothing to recover.
    let hold: Promise<void> | undefined;
    app.route(
      [queue],
      { type: RouteTypes.AMQP, prefetch: 200, options: { bulkSize: 50, bulkFlushInterval: 50 } },
      async (messages: AMQPMessage<{ id: number }>[]) => {
        await sleep(40); // ~1,250 msg/s: long enough to be interrupted 5 times with work left after each
        if (hold) await hold;
        for (const m of messages) {
          seen.set(m.body.id, (seen.get(m.body.id) ?? 0) + 1);
          if (m.redelivered) redeliveredIds.add(m.body.id);
        }
        processed += messages.length;
      },
    );
    const t0 = Date.now();
    await app.start();
    const resumeMs: number[] = [];
    for (let close = 1; close <= CLOSES; close++) {
      await waitFor(
        () => processed >= (close * TOTAL) / (CLOSES + 3),
        60_000,
        `progress before close ${close}`,
      );
      let release!: () => void;
      hold = new Promise((resolve) => {
        release = resolve;
      });
      expect(await closeConnections(`weir:${name}:`)).toBe(1);
      const closedAt = Date.now();
      const reconnects = () => app.health().transports[0]?.routes[0]?.reconnects;
      await waitFor(() => reconnects() === close, 15_000, `the worker to see close ${close}`);
      hold = undefined;
      release();
      const before = processed;
      await waitFor(() => processed > before + 100, 15_000, `resume after close ${close}`);
      resumeMs.push(Date.now() - closedAt);
    }
    await waitFor(() => seen.size === TOTAL, 60_000, "every id");
    await sleep(200);
    await app.stop();

    const duplicates = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    const lost = ids.filter(({ id }) => !seen.has(id)).length;
    const health = app.health();
    report("close-connection", {
      published: TOTAL,
      processed: seen.size,
      deliveries: processed,
      duplicates: duplicates.length,
      lost,
      resumeMs,
      elapsedMs: Date.now() - t0,
      reconnects: health.transports[0]?.routes[0]?.reconnects,
      lostOnReconnect: health.transports[0]?.routes[0]?.lostOnReconnect,
    });
    expect(lost).toBe(0);
    expect(seen.size).toBe(TOTAL);
    // A duplicate is only ever a redelivery of a message whose ack was lost with its channel.
    expect(duplicates.filter((id) => !redeliveredIds.has(id))).toEqual([]);
    expect(await broker.count(queue)).toBe(0);
  }, 120_000);
});
