import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Action, Actions, type AMQPMessage, Events, Options, RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

type Body = { id: string; fail: boolean };

/** What the broker did with a message, as a user observes it. */
function expectedFate(action: Action): { deliveries: number; deadLettered: number } {
  if (action === Actions.ACK) return { deliveries: 1, deadLettered: 0 };
  if (action === Actions.REJECT) return { deliveries: 1, deadLettered: 1 };
  return { deliveries: 2, deadLettered: 0 }; // requeued once, then accepted explicitly
}

describe("AMQP outcome actions", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  async function queueWithDlq(prefix: string): Promise<{ queue: string; dlq: string }> {
    const dlq = await broker.queue(uniqueName(`${prefix}-dlq`));
    const queue = await broker.queue(uniqueName(prefix), {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": dlq,
    });
    return { queue, dlq };
  }

  const matrix = Object.values(Actions).flatMap((onSuccess) =>
    Object.values(Actions).map((onException) => ({ onSuccess, onException })),
  );

  it.each(matrix)("onSuccess=$onSuccess, onException=$onException", async ({ onSuccess, onException }) => {
    const { queue, dlq } = await queueWithDlq("matrix");
    await broker.publish(queue, [
      { id: "ok", fail: false },
      { id: "boom", fail: true },
    ]);
    const app = createApp();
    const deliveries: Record<string, boolean[]> = { ok: [], boom: [] };
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        options: { [Events.ON_SUCCESS]: onSuccess, [Events.ON_EXCEPTION]: onException },
      },
      async ([m]: AMQPMessage<Body>[]) => {
        if (!m) return;
        deliveries[m.body.id]?.push(m.redelivered);
        if (m.redelivered) m.accept(); // ends a requeue loop: the explicit action wins over the route's
        if (m.body.fail) throw new Error("handler failure");
      },
    );
    await app.start();
    const ok = expectedFate(onSuccess);
    const boom = expectedFate(onException);
    await waitFor(
      async () =>
        deliveries.ok?.length === ok.deliveries &&
        deliveries.boom?.length === boom.deliveries &&
        (await broker.count(dlq)) === ok.deadLettered + boom.deadLettered,
      5000,
      "the expected deliveries",
    );
    await sleep(150); // a wrong extra redelivery would show up here
    await app.stop();
    expect(deliveries.ok).toEqual(ok.deliveries === 2 ? [false, true] : [false]);
    expect(deliveries.boom).toEqual(boom.deliveries === 2 ? [false, true] : [false]);
    expect(await broker.count(dlq)).toBe(ok.deadLettered + boom.deadLettered);
    expect(await broker.count(queue)).toBe(0);
  });

  it("per-message reject inside a bulk of 5: 2 redelivered, 3 acked (seed scenario)", async () => {
    const queue = await broker.queue(uniqueName("override"));
    await broker.publish(queue, [1, 2, 3, 4, 5]);
    const app = createApp();
    const calls: { bodies: unknown[]; redelivered: boolean[] }[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, options: { [Options.BULK_SIZE]: 5, [Options.BULK_FLUSH_INTERVAL]: 200 } },
      async (messages) => {
        calls.push({ bodies: messages.map((m) => m.body), redelivered: messages.map((m) => m.redelivered) });
        for (const m of messages) if (!m.redelivered && (m.body === 2 || m.body === 4)) m.reject();
      },
    );
    await app.start();
    await waitFor(() => calls.flatMap((c) => c.bodies).length === 7, 5000, "7 deliveries");
    await sleep(300);
    await app.stop();
    expect(calls[0]?.bodies).toEqual([1, 2, 3, 4, 5]);
    expect(
      calls
        .slice(1)
        .flatMap((c) => c.bodies)
        .sort(),
    ).toEqual([2, 4]);
    expect(calls.slice(1).flatMap((c) => c.redelivered)).toEqual([true, true]);
    expect(await broker.count(queue)).toBe(0);
  });

  it("an explicit accept wins over a thrown error; the rest of the bulk follows onException", async () => {
    const { queue, dlq } = await queueWithDlq("accept-wins");
    await broker.publish(queue, ["keep", "drop-1", "drop-2"]);
    const app = createApp();
    let calls = 0;
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        options: { bulkSize: 3, bulkFlushInterval: 200, onException: Actions.REJECT },
      },
      async (messages) => {
        calls++;
        messages.find((m) => m.body === "keep")?.accept();
        throw new Error("bulk failed");
      },
    );
    await app.start();
    await waitFor(async () => (await broker.count(dlq)) === 2, 5000, "2 dead-lettered");
    await app.stop();
    expect(calls).toBe(1);
    expect((await broker.drain(dlq)).sort()).toEqual(["drop-1", "drop-2"]);
    expect(await broker.count(queue)).toBe(0);
  });

  it("a handler exception requeues by default and the message comes back flagged redelivered", async () => {
    const queue = await broker.queue(uniqueName("exception"));
    await broker.publish(queue, [{ n: 1 }]);
    const app = createApp();
    const redelivered: boolean[] = [];
    app.route([queue], { type: RouteTypes.AMQP }, async ([m]) => {
      redelivered.push(m?.redelivered ?? false);
      if (redelivered.length === 1) throw new Error("first attempt fails");
    });
    await app.start();
    await waitFor(() => redelivered.length === 2);
    await app.stop();
    expect(redelivered).toEqual([false, true]);
    expect(await broker.count(queue)).toBe(0);
  });

  it("reject({ requeue: false }) removes the message from the queue", async () => {
    const queue = await broker.queue(uniqueName("reject-no-requeue"));
    await broker.publish(queue, [{ n: 1 }, { n: 2 }]);
    const app = createApp();
    let seen = 0;
    app.route([queue], { type: RouteTypes.AMQP }, async ([m]) => {
      seen++;
      m?.reject({ requeue: false });
    });
    await app.start();
    await waitFor(() => seen === 2);
    await sleep(200);
    await app.stop();
    expect(seen).toBe(2);
    expect(await broker.count(queue)).toBe(0);
  });
});
