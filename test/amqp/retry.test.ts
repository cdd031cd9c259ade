import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AMQPMessage,
  ConstantBackoff,
  LinearBackoff,
  RouteTypes,
  UnrecoverableError,
  WeirHeaders,
} from "../../src/index.js";
import { TEST_VHOST } from "../global-setup.js";
import { Broker, createApp, dropConnections, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

type Job = { id: number };

function delayArgs(queue: string, delay: number): Record<string, unknown> {
  return {
    "x-message-ttl": delay,
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": queue,
    "x-expires": delay * 2 + 60_000,
  };
}

const fast = (delay: number) => new ConstantBackoff({ constant: delay, floor: delay, ceiling: delay });

describe("retries on the broker (faststream #1657, celery #6760: no attempt counter or delay in worker memory)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  /**
   * Registers weir's queues for `queue` with the broker helper, so they are deleted after the test.
   * Declaring them with weir's exact arguments also proves the arguments: any difference would make
   * weir's own declare fail (406) and the test with it.
   */
  async function track(queue: string, delays: number[]): Promise<void> {
    for (const delay of delays) await broker.queue(`${queue}.retry.${delay}`, delayArgs(queue, delay));
    await broker.queue(`${queue}.dlq`);
  }

  it("poison message, maxAttempts 3: 3 calls with growing delays, then one copy in the DLQ with headers", async () => {
    const queue = await broker.queue(uniqueName("poison"));
    await track(queue, [150, 300]);
    const app = createApp();
    const calls: { at: number; attempt: number }[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        retry: { maxAttempts: 3, backoff: new LinearBackoff({ factor: 150, floor: 150, ceiling: 1000 }) },
      },
      async ([m]: AMQPMessage<Job>[]) => {
        calls.push({ at: Date.now(), attempt: m!.attempt });
        throw new TypeError("cannot process job");
      },
    );
    await app.start();
    await broker.publish(queue, [{ id: 1 }], { messageId: "job-1", headers: { tenant: "acme" } });
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    await sleep(400); // a wrong extra attempt would show up here
    await app.stop();
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    const gaps = [calls[1]!.at - calls[0]!.at, calls[2]!.at - calls[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(150);
    expect(gaps[1]).toBeGreaterThanOrEqual(300);

    const [letter, ...more] = await broker.getAll(`${queue}.dlq`);
    expect(more).toEqual([]);
    const headers = letter!.properties.headers ?? {};
    expect(JSON.parse(letter!.content.toString())).toEqual({ id: 1 });
    expect(letter!.properties.messageId).toBe("job-1");
    expect(headers.tenant).toBe("acme");
    expect(headers[WeirHeaders.ERROR]).toBe("cannot process job");
    expect(headers[WeirHeaders.ERROR_CODE]).toBe("TypeError");
    expect(headers[WeirHeaders.ORIGINAL_QUEUE]).toBe(queue);
    expect(headers[WeirHeaders.ATTEMPTS]).toBe(3);
    expect(headers[WeirHeaders.REASON]).toBe("max-attempts");
    const first = Date.parse(String(headers[WeirHeaders.FIRST_FAILURE]));
    const last = Date.parse(String(headers[WeirHeaders.LAST_FAILURE]));
    expect(first).toBeGreaterThanOrEqual(calls[0]!.at - 5);
    expect(last - first).toBeGreaterThanOrEqual(450);
    expect(headers["x-death"]).toBeUndefined();
    expect(await broker.count(queue)).toBe(0);
    for (const delay of [150, 300]) expect(await broker.count(`${queue}.retry.${delay}`)).toBe(0);
  });

  it("a worker restarted between attempts keeps the count (it travels in a header)", async () => {
    const queue = await broker.queue(uniqueName("restart"));
    await track(queue, [400]);
    const attempts: string[] = [];
    const worker = (name: string) => {
      const app = createApp();
      app.route(
        [queue],
        { type: RouteTypes.AMQP, retry: { maxAttempts: 3, backoff: fast(400) } },
        async ([m]) => {
          attempts.push(`${name}:${m!.attempt}`);
          throw new Error("still broken");
        },
      );
      return app;
    };
    const first = worker("a");
    await first.start();
    await broker.publish(queue, [{ id: 7 }]);
    await waitFor(() => attempts.length === 1, 5000, "the first attempt");
    await first.stop(); // the retry waits on the broker, not in this process
    expect(await broker.count(`${queue}.retry.400`)).toBe(1);
    const second = worker("b");
    await second.start();
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    await second.stop();
    expect(attempts).toEqual(["a:1", "b:2", "b:3"]);
    const [letter] = await broker.getAll(`${queue}.dlq`);
    expect(letter!.properties.headers?.[WeirHeaders.ATTEMPTS]).toBe(3);
  });

  it("list without consuming, replay (attempts reset) to a fixed handler, filter and limit, purge", async () => {
    const queue = await broker.queue(uniqueName("replay"));
    await track(queue, [100]);
    let fixed = false;
    const seen: { id: number; attempt: number; replays: unknown }[] = [];
    const app = createApp();
    app.route(
      [queue],
      { type: RouteTypes.AMQP, retry: { maxAttempts: 2, backoff: fast(100) } },
      async ([m]: AMQPMessage<Job>[]) => {
        if (!fixed) throw new Error(`bug ${m!.body.id}`);
        seen.push({ id: m!.body.id, attempt: m!.attempt, replays: m!.headers[WeirHeaders.REPLAYS] });
      },
    );
    await app.start();
    await broker.publish(queue, [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]);
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 4, 5000, "4 dead letters");

    const listed = await app.amqp.listDeadLetters(queue, { limit: 3 });
    expect(listed.map((d) => d.body)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(listed[0]).toMatchObject({
      queue,
      reason: "max-attempts",
      error: "bug 1",
      errorCode: "Error",
      attempts: 2,
    });
    expect(listed[0]!.firstFailureAt).toBeInstanceOf(Date);
    expect(listed[0]!.lastFailureAt!.getTime()).toBeGreaterThanOrEqual(listed[0]!.firstFailureAt!.getTime());
    expect(await broker.count(`${queue}.dlq`)).toBe(4); // listing consumed nothing

    fixed = true;
    const one = await app.amqp.replay(queue, { filter: (d) => (d.body as Job).id === 2 });
    expect(one).toEqual({ replayed: 1, skipped: 3 });
    await waitFor(() => seen.length === 1, 5000, "the replayed message");
    expect(seen[0]).toEqual({ id: 2, attempt: 1, replays: 1 });
    // The skipped ones stay, in their order.
    expect((await app.amqp.listDeadLetters(queue)).map((d) => d.body)).toEqual([
      { id: 1 },
      { id: 3 },
      { id: 4 },
    ]);

    expect(await app.amqp.replay(queue, { limit: 1 })).toEqual({ replayed: 1, skipped: 0 });
    await waitFor(() => seen.length === 2, 5000, "the second replayed message");
    expect(seen[1]!.id).toBe(1);
    expect(await app.amqp.purgeDeadLetters(queue)).toBe(2);
    expect(await broker.count(`${queue}.dlq`)).toBe(0);
    await sleep(150);
    await app.stop();
    expect(await broker.count(queue)).toBe(0);
  });

  it("the dead-letter API says which queue is missing, and checks its options", async () => {
    const app = createApp();
    const queue = uniqueName("no-dlq");
    await expect(app.amqp.listDeadLetters(queue)).rejects.toMatchObject({ code: "WEIR_ERR_DLQ_NOT_FOUND" });
    await expect(app.amqp.replay(queue)).rejects.toMatchObject({ code: "WEIR_ERR_DLQ_NOT_FOUND" });
    await expect(app.amqp.purgeDeadLetters(queue)).rejects.toMatchObject({ code: "WEIR_ERR_DLQ_NOT_FOUND" });
    await broker.queue(`${queue}.dlq`);
    await expect(app.amqp.listDeadLetters(queue, { limit: 0 })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
    });
    expect(await app.amqp.listDeadLetters(queue)).toEqual([]);
    await app.stop();
  });

  it("UnrecoverableError skips the retries and goes straight to the DLQ", async () => {
    const queue = await broker.queue(uniqueName("unrecoverable"));
    await track(queue, []);
    const app = createApp();
    let calls = 0;
    app.route([queue], { type: RouteTypes.AMQP, retry: { maxAttempts: 5, backoff: fast(100) } }, async () => {
      calls++;
      throw new UnrecoverableError("customer deleted");
    });
    await app.start();
    await broker.publish(queue, [{ id: 2 }]);
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    await sleep(300);
    await app.stop();
    expect(calls).toBe(1);
    const [letter] = await broker.getAll(`${queue}.dlq`);
    const headers = letter!.properties.headers ?? {};
    expect(headers[WeirHeaders.REASON]).toBe("unrecoverable");
    expect(headers[WeirHeaders.ERROR_CODE]).toBe("WEIR_ERR_UNRECOVERABLE");
    expect(headers[WeirHeaders.ERROR]).toBe("customer deleted");
    expect(headers[WeirHeaders.ATTEMPTS]).toBe(1);
  });

  it("UnrecoverableError on a route without retry or DLQ is rejected without requeue, not looped", async () => {
    const dlx = await broker.queue(uniqueName("plain-dlx"));
    const queue = await broker.queue(uniqueName("plain-unrecoverable"), {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": dlx,
    });
    const app = createApp();
    let calls = 0;
    app.route([queue], { type: RouteTypes.AMQP }, async () => {
      calls++;
      throw new UnrecoverableError("never");
    });
    await app.start();
    await broker.publish(queue, [1]);
    await waitFor(async () => (await broker.count(dlx)) === 1, 5000, "the queue's own DLX");
    await sleep(200);
    await app.stop();
    expect(calls).toBe(1);
  });

  it("m.retry({ delay, reason }) and m.deadLetter(reason) per message; accept() wins in a failed bulk", async () => {
    const queue = await broker.queue(uniqueName("explicit"));
    await track(queue, [250, 100]);
    const app = createApp();
    const calls: { id: number; attempt: number; at: number }[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        retry: { maxAttempts: 4, backoff: fast(100) },
        options: { bulkSize: 3, bulkFlushInterval: 100 },
      },
      async (messages: AMQPMessage<Job>[]) => {
        for (const m of messages) {
          calls.push({ id: m.body.id, attempt: m.attempt, at: Date.now() });
          if (m.body.id === 1 && m.attempt === 1) m.retry({ delay: 250, reason: "not yet" });
          else if (m.body.id === 1) m.deadLetter("gave up on it");
          else if (m.body.id === 2) m.accept();
        }
        if (messages.some((m) => m.body.id === 3)) throw new Error("bulk failed");
      },
    );
    await app.start();
    await broker.publish(queue, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 2, 5000, "2 dead letters");
    await app.stop();
    const letters = await broker.getAll(`${queue}.dlq`);
    const byId = new Map(
      letters.map((l) => [(JSON.parse(l.content.toString()) as Job).id, l.properties.headers]),
    );
    expect(byId.get(1)?.[WeirHeaders.REASON]).toBe("dead-lettered");
    expect(byId.get(1)?.[WeirHeaders.ERROR]).toBe("gave up on it");
    expect(byId.get(1)?.[WeirHeaders.ERROR_CODE]).toBe("WEIR_ERR_DEAD_LETTERED");
    expect(byId.get(1)?.[WeirHeaders.ATTEMPTS]).toBe(2);
    expect(byId.get(3)?.[WeirHeaders.REASON]).toBe("max-attempts");
    expect(byId.get(3)?.[WeirHeaders.ATTEMPTS]).toBe(4);
    expect(calls.filter((c) => c.id === 2)).toHaveLength(1); // accepted despite the throw
    const ones = calls.filter((c) => c.id === 1);
    expect(ones.map((c) => c.attempt)).toEqual([1, 2]);
    expect(ones[1]!.at - ones[0]!.at).toBeGreaterThanOrEqual(250);
  });

  it("500 malformed bodies all land in the DLQ and the worker keeps consuming", async () => {
    const queue = await broker.queue(uniqueName("malformed"));
    await track(queue, []);
    const app = createApp();
    const handled: number[] = [];
    app.route([queue], { type: RouteTypes.AMQP, deadLetter: true, prefetch: 64 }, async ([m]) => {
      handled.push((m!.body as Job).id);
    });
    await app.start();
    const bodies: unknown[] = [];
    for (let i = 0; i < 500; i++) {
      bodies.push(Buffer.from(`{"id": ${i}, broken`));
      if (i % 50 === 0) bodies.push({ id: i });
    }
    await broker.publish(queue, bodies, { contentType: "application/json" });
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 500, 10_000, "500 dead letters");
    await waitFor(() => handled.length === 10, 5000, "the valid messages");
    await app.stop();
    expect(await broker.count(queue)).toBe(0);
    const letters = await broker.getAll(`${queue}.dlq`);
    expect(letters).toHaveLength(500);
    expect(letters[0]!.content.toString()).toBe('{"id": 0, broken');
    expect(letters[0]!.properties.headers?.[WeirHeaders.REASON]).toBe("invalid-json");
    expect(letters[0]!.properties.headers?.[WeirHeaders.ERROR_CODE]).toBe("WEIR_ERR_INVALID_JSON");
    expect(letters[0]!.properties.headers?.[WeirHeaders.ATTEMPTS]).toBe(0);
    expect(handled).toEqual([0, 50, 100, 150, 200, 250, 300, 350, 400, 450]);
  });

  it("a retry storm of 1,000 failing messages never delivers a message more than once per its backoff", async () => {
    const queue = await broker.queue(uniqueName("storm"));
    await track(queue, [200, 400]);
    const app = createApp();
    const deliveries = new Map<number, { at: number; attempt: number }[]>();
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        prefetch: 200,
        retry: { maxAttempts: 3, backoff: new LinearBackoff({ factor: 200, floor: 200, ceiling: 400 }) },
        options: { bulkSize: 50, bulkFlushInterval: 20, concurrency: 4 },
      },
      async (messages: AMQPMessage<Job>[]) => {
        const at = Date.now();
        for (const m of messages) {
          const list = deliveries.get(m.body.id) ?? [];
          list.push({ at, attempt: m.attempt });
          deliveries.set(m.body.id, list);
        }
        throw new Error("storm");
      },
    );
    await app.start();
    await broker.publish(
      queue,
      Array.from({ length: 1000 }, (_, id) => ({ id })),
    );
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1000, 20_000, "1,000 dead letters");
    await sleep(300);
    await app.stop();
    expect(deliveries.size).toBe(1000);
    const backoff = [200, 400];
    for (const [id, list] of deliveries) {
      expect(
        list.map((d) => d.attempt),
        `message ${id}`,
      ).toEqual([1, 2, 3]);
      for (let i = 1; i < list.length; i++) {
        expect(list[i]!.at - list[i - 1]!.at, `message ${id}, gap ${i}`).toBeGreaterThanOrEqual(
          backoff[i - 1]!,
        );
      }
    }
    expect(await broker.count(queue)).toBe(0);
    expect(app.health().transports[0]?.routes[0]).toMatchObject({ retried: 2000, deadLettered: 1000 });
  });

  it("declares the DLQ and the delay queues again after a reconnect (the declare cache dies with its channel)", async () => {
    const queue = await broker.queue(uniqueName("redeclare"));
    const dlq = `${queue}.dlq`;
    const delayQueue = `${queue}.retry.100`;
    const name = `retry-${randomUUID().slice(0, 8)}`;
    const app = createApp({ name, amqp: { reconnect: { floor: 50, ceiling: 200 } } });
    const succeeded: number[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, retry: { maxAttempts: 3, backoff: fast(100) } },
      async ([m]: AMQPMessage<Job>[]) => {
        if (m!.attempt === 1) throw new Error("first attempts fail");
        succeeded.push(m!.body.id);
      },
    );
    await app.start();
    await track(queue, [100]);
    await broker.publish(queue, [{ id: 1 }]);
    await waitFor(() => succeeded.length === 1, 5000, "the first retry");
    await broker.deleteQueue(dlq);
    await broker.deleteQueue(delayQueue);
    // The routes' connection and the publisher's (opened by the first retry).
    expect(await dropConnections(`weir:${name}:`)).toBe(2);
    await waitFor(
      async () => {
        const probe = await Broker.connect();
        try {
          return (await probe.exists(dlq)) && app.health().ready;
        } finally {
          await probe.close();
        }
      },
      10_000,
      "the DLQ declared again",
    );
    // The delay queue is gone; a publish to it would be confirmed and dropped unless it is re-declared.
    await broker.publish(queue, [{ id: 2 }]);
    await waitFor(() => succeeded.includes(2), 5000, "the retry after the reconnect");
    await app.stop();
    // Message 1 may come once more: its ack is written at the end of the event-loop turn (coalesced
    // acks), and a drop in that turn loses it, so the broker redelivers it (at least once, flagged).
    expect([...new Set(succeeded)]).toEqual([1, 2]);
  });

  it("many consumers share one attempt count", async () => {
    const queue = await broker.queue(uniqueName("shared-count"));
    await track(queue, [100]);
    const calls: string[] = [];
    const worker = (name: string) => {
      const app = createApp();
      app.route(
        [queue],
        { type: RouteTypes.AMQP, retry: { maxAttempts: 4, backoff: fast(100) } },
        async ([m]) => {
          calls.push(`${name}:${m!.attempt}`);
          throw new Error("fails everywhere");
        },
      );
      return app;
    };
    const apps = [worker("a"), worker("b"), worker("c")];
    await Promise.all(apps.map((app) => app.start()));
    await broker.publish(queue, [{ id: 1 }]);
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
    await sleep(200);
    await Promise.all(apps.map((app) => app.stop()));
    expect(calls.map((call) => Number(call.split(":")[1]))).toEqual([1, 2, 3, 4]);
  });

  it("retries, dead-letters and replays on the route's own vhost", async () => {
    const other = await Broker.connect(TEST_VHOST);
    try {
      const queue = await other.queue(uniqueName("vhost"));
      await other.queue(`${queue}.retry.100`, delayArgs(queue, 100));
      await other.queue(`${queue}.dlq`);
      const app = createApp();
      let fixed = false;
      const attempts: number[] = [];
      app.route(
        [queue],
        { type: RouteTypes.AMQP, vhost: TEST_VHOST, retry: { maxAttempts: 2, backoff: fast(100) } },
        async ([m]) => {
          attempts.push(m!.attempt);
          if (!fixed) throw new Error("not yet");
        },
      );
      await app.start();
      await other.publish(queue, [{ id: 1 }]);
      await waitFor(async () => (await other.count(`${queue}.dlq`)) === 1, 5000, "the dead letter");
      fixed = true;
      expect(await app.amqp.replay(queue)).toEqual({ replayed: 1, skipped: 0 });
      await waitFor(() => attempts.length === 3, 5000, "the replayed attempt");
      await app.stop();
      expect(attempts).toEqual([1, 2, 1]);
      expect(await other.count(queue)).toBe(0);
    } finally {
      await other.close();
    }
  });

  it("a shared dead-letter queue (deadLetter.queue) records each message's queue and replays it there", async () => {
    const a = await broker.queue(uniqueName("shared-a"));
    const b = await broker.queue(uniqueName("shared-b"));
    const dlq = await broker.queue(uniqueName("shared-dlq"));
    const app = createApp();
    let fail = true;
    const handled: string[] = [];
    app.route([a, b], { type: RouteTypes.AMQP, deadLetter: { queue: dlq } }, async ([m]) => {
      if (fail) m!.deadLetter("nope");
      else handled.push(m!.queue);
    });
    await app.start();
    await broker.publish(a, ["to-a"]);
    await broker.publish(b, ["to-b"]);
    await waitFor(async () => (await broker.count(dlq)) === 2, 5000, "2 dead letters");
    expect((await app.amqp.listDeadLetters(a)).map((d) => d.body)).toEqual(["to-a"]);
    fail = false;
    expect(await app.amqp.replay(b)).toEqual({ replayed: 1, skipped: 1 });
    await waitFor(() => handled.length === 1, 5000, "the replayed message");
    expect(handled).toEqual([b]);
    expect(await broker.count(dlq)).toBe(1);
    await app.stop();
  });
});
