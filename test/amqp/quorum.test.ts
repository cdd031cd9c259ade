import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, ConstantBackoff, RouteTypes } from "../../src/index.js";
import { delayQueueOptions } from "../../src/transports/amqp/retry/topology.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";
import { captureLogs, type LogLine } from "../helpers/logs.js";

/**
 * Issue #18, "Quorum queues, end to end": the broker's delivery count on the message, weir's delay
 * and dead-letter queues as quorum queues, and the quorum queue's x-delivery-limit beside weir's
 * retries. Against the RabbitMQ on 5672 (quorum queues work on a single node).
 */

const run = promisify(execFile);
const fast = (delay: number) => new ConstantBackoff({ constant: delay, floor: delay, ceiling: delay });

/** `x-queue-type` of the queues named `names`, as the broker lists them. */
async function queueTypes(names: readonly string[]): Promise<Record<string, string>> {
  const { stdout } = await run("rabbitmqctl", ["-q", "list_queues", "name", "type", "--formatter", "json"], {
    timeout: 60_000,
  });
  const rows = JSON.parse(stdout || "[]") as { name: string; type: string }[];
  return Object.fromEntries(
    rows.filter((row) => names.includes(row.name)).map((row) => [row.name, row.type]),
  );
}

const QUORUM = { "x-queue-type": "quorum" } as const;

describe("quorum queues end to end (issue #18)", () => {
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

  function app(logger?: ReturnType<typeof captureLogs>["logger"]): App {
    const created = createApp({ shutdownTimeout: 1000, ...(logger && { logger }) });
    apps.push(created);
    return created;
  }

  it("m.deliveryCount: 0, 1, 2 over a quorum queue the route declares, as the broker counts requeues", async () => {
    const queue = uniqueName("qq-count");
    broker.track(queue);
    const worker = app();
    const seen: { count: number | undefined; redelivered: boolean }[] = [];
    worker.route([queue], { type: RouteTypes.AMQP, declare: { arguments: QUORUM } }, async ([m]) => {
      seen.push({ count: m!.deliveryCount, redelivered: m!.redelivered });
      if (seen.length < 3) m!.reject(); // requeued: the broker counts it
    });
    await worker.start();
    await worker.amqp.publish({ n: 1 }, { routingKey: queue });
    await waitFor(() => seen.length === 3, 10_000, "three deliveries");
    await waitFor(async () => (await broker.count(queue)) === 0, 5000, "acked");
    expect(seen).toEqual([
      { count: 0, redelivered: false },
      { count: 1, redelivered: true },
      { count: 2, redelivered: true },
    ]);
  });

  it("m.deliveryCount: undefined on a classic queue; on a quorum queue the route does not declare, undefined first, then the broker's count", async () => {
    const classic = await broker.queue(uniqueName("cq-count"));
    const quorum = await broker.queue(uniqueName("qq-undeclared"), QUORUM);
    const worker = app();
    const seen: Record<string, (number | undefined)[]> = { [classic]: [], [quorum]: [] };
    worker.route([classic, quorum], { type: RouteTypes.AMQP, prefetch: 2 }, async ([m]) => {
      const counts = seen[m!.queue]!;
      counts.push(m!.deliveryCount);
      if (counts.length < 2) m!.reject();
    });
    await worker.start();
    await broker.publish(classic, [{ n: 1 }]);
    await broker.publish(quorum, [{ n: 2 }]);
    await waitFor(
      () => seen[classic]!.length === 2 && seen[quorum]!.length === 2,
      10_000,
      "two deliveries each",
    );
    expect(seen[classic]).toEqual([undefined, undefined]);
    expect(seen[quorum]).toEqual([undefined, 1]);
  });

  it("a route with retry over a declared quorum queue gets quorum delay and dead-letter queues; a message retried then dead-lettered arrives in the DLQ with its headers", async () => {
    const queue = uniqueName("qq-retry");
    const delayQueue = `${queue}.retry.200.quorum`;
    const dlq = `${queue}.dlq`;
    for (const name of [queue, delayQueue, dlq]) broker.track(name);
    const worker = app();
    const attempts: number[] = [];
    worker.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        declare: { arguments: QUORUM },
        retry: { maxAttempts: 3, backoff: fast(200) },
      },
      async ([m]) => {
        attempts.push(m!.attempt);
        throw new Error(`boom ${m!.attempt}`);
      },
    );
    await worker.start();
    await worker.amqp.publish({ id: "q-1" }, { routingKey: queue, headers: { tenant: "t1" } });
    await waitFor(async () => (await broker.count(dlq)) === 1, 15_000, "the dead letter");
    expect(attempts).toEqual([1, 2, 3]);
    expect(await queueTypes([queue, delayQueue, dlq])).toEqual({
      [queue]: "quorum",
      [delayQueue]: "quorum",
      [dlq]: "quorum",
    });
    // The lease renewal: the same declare again is accepted (a quorum queue checks every argument).
    await broker.withChannel((channel) =>
      channel.assertQueue(delayQueue, delayQueueOptions(queue, 200, "quorum")),
    );
    const [letter] = await broker.getAll(dlq);
    expect(JSON.parse(letter!.content.toString())).toEqual({ id: "q-1" });
    expect(letter!.properties.headers).toMatchObject({
      tenant: "t1",
      "x-weir-attempts": 3,
      "x-weir-reason": "max-attempts",
      "x-weir-error": "boom 3",
      "x-weir-original-queue": queue,
    });
  });

  it("retry.queueType and deadLetter.queueType override the default: classic helpers beside a declared quorum queue, quorum ones beside a classic queue", async () => {
    const quorum = uniqueName("qq-classic-helpers");
    const classic = await broker.queue(uniqueName("cq-quorum-helpers"));
    const names = [
      quorum,
      `${quorum}.retry.100`,
      `${quorum}.dlq`,
      `${classic}.retry.100.quorum`,
      `${classic}.dlq`,
    ];
    for (const name of names) broker.track(name);
    const worker = app();
    worker.route(
      [quorum],
      {
        type: RouteTypes.AMQP,
        declare: { arguments: QUORUM },
        retry: { maxAttempts: 2, backoff: fast(100), queueType: "classic" },
        deadLetter: { queueType: "classic" },
      },
      async () => {
        throw new Error("boom");
      },
    );
    worker.route(
      [classic],
      {
        type: RouteTypes.AMQP,
        retry: { maxAttempts: 2, backoff: fast(100), queueType: "quorum" },
        deadLetter: { queueType: "quorum" },
      },
      async () => {
        throw new Error("boom");
      },
    );
    await worker.start();
    await worker.amqp.publish({}, { routingKey: quorum });
    await worker.amqp.publish({}, { routingKey: classic });
    await waitFor(
      async () => (await broker.count(`${quorum}.dlq`)) === 1 && (await broker.count(`${classic}.dlq`)) === 1,
      15_000,
      "both dead letters",
    );
    expect(await queueTypes(names)).toEqual({
      [quorum]: "quorum",
      [`${quorum}.retry.100`]: "classic",
      [`${quorum}.dlq`]: "classic",
      [`${classic}.retry.100.quorum`]: "quorum",
      [`${classic}.dlq`]: "quorum",
    });
  });

  it("an existing classic <queue>.dlq (made before the route became quorum) is used as it is, on a channel of its own: retries in flight beside it go on", async () => {
    const queue = uniqueName("qq-upgrade");
    const dlq = await broker.queue(`${queue}.dlq`); // classic, as weir made it before
    broker.track(queue);
    broker.track(`${queue}.retry.100.quorum`);
    const { logger, lines } = captureLogs();
    const worker = app(logger);
    worker.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        declare: { arguments: QUORUM },
        prefetch: 20,
        options: { concurrency: 20 },
        retry: { maxAttempts: 2, backoff: fast(100) },
      },
      async () => {
        throw new Error("boom");
      },
    );
    await worker.start();
    await broker.publish(
      queue,
      Array.from({ length: 20 }, (_, i) => ({ i })),
    );
    await waitFor(async () => (await broker.count(dlq)) === 20, 15_000, "20 dead letters");
    expect(await queueTypes([dlq])).toEqual({ [dlq]: "classic" });
    expect(lines.some((line) => line.msg === "queue exists with other arguments; using it as it is")).toBe(
      true,
    );
    // No forward failed for the DLQ's refused declare (each would have requeued its message).
    expect(lines.filter((line) => line.msg.startsWith("could not forward"))).toEqual([]);
  });

  it("a task on a quorum queue: task.delay waits in a quorum delay queue, the one its retries use", async () => {
    const queue = uniqueName("qq-task");
    const delayQueue = `${queue}.retry.300.quorum`;
    for (const name of [queue, delayQueue, `${queue}.dlq`]) broker.track(name);
    const worker = app();
    const runs: unknown[] = [];
    const task = worker.task(
      queue,
      async (payload: { n: number }) => {
        runs.push(payload);
      },
      { declare: { arguments: QUORUM }, retry: { maxAttempts: 2 } },
    );
    await worker.start();
    const sentAt = Date.now();
    await task.delay({ n: 1 }, { delay: 300 });
    await waitFor(() => runs.length === 1, 10_000, "the delayed run");
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(250);
    expect(runs).toEqual([{ n: 1 }]);
    expect(await queueTypes([queue, delayQueue])).toEqual({ [queue]: "quorum", [delayQueue]: "quorum" });
  });

  it("a delay queue that exists with other arguments: WEIR_ERR_DELAY_QUEUE_DECLARE names both argument sets, the message is requeued, never lost, and ends in the DLQ", async () => {
    const queue = uniqueName("qq-conflict");
    const delayQueue = `${queue}.retry.300.quorum`;
    const dlq = `${queue}.dlq`;
    broker.track(queue);
    broker.track(dlq);
    await broker.queue(delayQueue, { "x-message-ttl": 999 }); // a classic queue under weir's name
    const { logger, lines } = captureLogs();
    const worker = app(logger);
    const attempts: number[] = [];
    worker.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        declare: { arguments: QUORUM },
        retry: { maxAttempts: 2, backoff: fast(300) },
      },
      async ([m]) => {
        attempts.push(m!.attempt);
        throw new Error("boom");
      },
    );
    await worker.start();
    await worker.amqp.publish({ id: 1 }, { routingKey: queue });
    await waitFor(async () => (await broker.count(dlq)) === 1, 15_000, "the dead letter");
    // Attempt 1 failed, its retry was refused and it was requeued; the redelivery (x-delivery-count 1)
    // is attempt 2, the last: dead-lettered.
    expect(attempts).toEqual([1, 2]);
    const refusal = lines.find((line: LogLine) => line.code === "WEIR_ERR_DELAY_QUEUE_DECLARE");
    expect(refusal).toBeDefined();
    const message = String(refusal!.reason);
    expect(message).toContain(`"${delayQueue}"`);
    expect(message).toContain('"x-queue-type":"quorum"'); // what weir declares
    // What the broker says the queue has: the first difference it found (one per refusal).
    expect(message).toMatch(/existing: \{"x-[a-z-]+":"none"\}/);
    expect(await broker.count(delayQueue)).toBe(0);
  });

  it("x-delivery-limit at least maxAttempts: weir's own count ends a requeue loop first, with its headers", async () => {
    const queue = uniqueName("qq-limit-weir");
    const dlq = `${queue}.dlq`;
    broker.track(queue);
    broker.track(dlq);
    const { logger, lines } = captureLogs();
    const worker = app(logger);
    let calls = 0;
    worker.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        declare: {
          arguments: {
            ...QUORUM,
            "x-delivery-limit": 3,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dlq,
          },
        },
        retry: { maxAttempts: 3, backoff: fast(100) },
      },
      async ([m]) => {
        calls++;
        m!.reject(); // back to the queue unacked, like a crash: the broker counts it
      },
    );
    expect(lines.filter((line) => line.code === "WEIR_ERR_DELIVERY_LIMIT")).toEqual([]);
    await worker.start();
    await worker.amqp.publish({ id: 1 }, { routingKey: queue });
    await waitFor(async () => (await broker.count(dlq)) === 1, 10_000, "the dead letter");
    expect(calls).toBe(3);
    const [letter] = await worker.amqp.listDeadLetters(queue);
    expect(letter).toMatchObject({ reason: "max-attempts", errorCode: "WEIR_ERR_REDELIVERED", attempts: 3 });
  });

  it("x-delivery-limit below maxAttempts: warned at registration (WEIR_ERR_DELIVERY_LIMIT), and the broker dead-letters the message past its limit, listed as reason delivery-limit", async () => {
    const queue = uniqueName("qq-limit-broker");
    const dlq = `${queue}.dlq`;
    broker.track(queue);
    broker.track(dlq);
    const { logger, lines } = captureLogs();
    const worker = app(logger);
    let calls = 0;
    worker.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        declare: {
          arguments: {
            ...QUORUM,
            "x-delivery-limit": 1,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dlq,
          },
        },
        retry: { maxAttempts: 5, backoff: fast(100) },
      },
      async ([m]) => {
        calls++;
        m!.reject();
      },
    );
    const warnings = lines.filter((line) => line.code === "WEIR_ERR_DELIVERY_LIMIT");
    expect(warnings).toMatchObject([{ level: 40, queue, problem: "below-max-attempts" }]);
    await worker.start();
    await worker.amqp.publish({ id: 1 }, { routingKey: queue });
    await waitFor(async () => (await broker.count(dlq)) === 1, 10_000, "the broker's dead letter");
    expect(calls).toBe(2); // a limit of 1 allows 2 deliveries (RabbitMQ 3.10)
    const [letter] = await worker.amqp.listDeadLetters(queue);
    expect(letter).toMatchObject({ reason: "delivery-limit", queue, body: { id: 1 } });
  });

  it("x-delivery-limit without x-dead-letter-exchange on a route with a DLQ: warned at registration with WEIR_ERR_DELIVERY_LIMIT (the broker would drop)", async () => {
    const { logger, lines } = captureLogs();
    const worker = app(logger);
    const queue = uniqueName("qq-limit-nodlx");
    worker.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        declare: { arguments: { ...QUORUM, "x-delivery-limit": 10 } },
        retry: { maxAttempts: 5 },
      },
      async () => {},
    );
    const warnings = lines.filter((line) => line.code === "WEIR_ERR_DELIVERY_LIMIT");
    expect(warnings).toMatchObject([{ level: 40, queue, problem: "no-dead-letter-exchange" }]);
    expect(warnings[0]!.msg).toContain(`"x-dead-letter-routing-key": "${queue}.dlq"`);
  });
});
