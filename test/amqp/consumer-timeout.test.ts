import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { App, type RouteHealth, RouteTypes, WeirHeaders } from "../../src/index.js";
import { Broker, uniqueName, waitFor } from "../helpers/amqp.js";
import { captureLogs, ERROR, type LogLine, WARN } from "../helpers/logs.js";
import { type RabbitNode, startRabbitNode } from "../helpers/rabbit-node.js";

/**
 * Issue #15, kind 3: the broker's consumer timeout turns a slow handler into an endless loop. The
 * node's `consumer_timeout` is 5 s, checked every second (`channel_tick_interval`): on an extra
 * node started here, never the shared one on 5672. Before the fix a 10 s handler ran 7 times in
 * 70 s and was never settled.
 */

const CONSUMER_TIMEOUT = 5000;

function routeHealth(app: App, name: string): RouteHealth {
  const route = app
    .health()
    .transports.flatMap((transport) => transport.routes)
    .find((candidate) => candidate.name === name);
  if (route === undefined) throw new Error(`no route ${name}`);
  return route;
}

describe("registration warns about the broker's consumer timeout (issue #15)", () => {
  function warnings(options: ConstructorParameters<typeof App>[0], spec: Record<string, unknown>): LogLine[] {
    const { logger, lines } = captureLogs("warn");
    const app = new App({ ...options, logger, amqp: { url: "amqp://127.0.0.1:1", ...options?.amqp } });
    app.route(["q"], { type: RouteTypes.AMQP, ...spec } as never, async () => {});
    return lines.filter((line) => line.level === WARN && line.code === "WEIR_ERR_CONSUMER_TIMEOUT");
  }

  it("warns when timeout x the calls a delivery may wait behind can exceed amqp.consumerTimeout", () => {
    const [line] = warnings(
      { amqp: { consumerTimeout: 60_000 } },
      { prefetch: 10, options: { timeout: 10_000, bulkFlushInterval: 1000 } },
    );
    expect(line).toMatchObject({
      holdMs: 100_000,
      consumerTimeoutMs: 60_000,
      from: "amqp.consumerTimeout",
      maxPrefetch: 5,
    });
    expect(
      warnings(
        { amqp: { consumerTimeout: 60_000 } },
        { prefetch: 5, options: { timeout: 10_000, bulkFlushInterval: 1000 } },
      ),
    ).toEqual([]);
  });

  it("uses RabbitMQ's 30 min by default, and a declared queue's x-consumer-timeout over it", () => {
    expect(warnings({}, { prefetch: 1, options: { timeout: 29 * 60_000, bulkFlushInterval: 1000 } })).toEqual(
      [],
    );
    expect(warnings({}, { prefetch: 1, options: { timeout: 30 * 60_000 } })).toHaveLength(1);
    const [line] = warnings(
      {},
      { prefetch: 1, declare: { arguments: { "x-consumer-timeout": 5000 } }, options: { timeout: 6000 } },
    );
    expect(line).toMatchObject({ consumerTimeoutMs: 5000, from: "x-consumer-timeout" });
  });

  it("without a timeout, warns only when bulkFlushInterval alone reaches it", () => {
    const bulk = (bulkFlushInterval: number, bulkSize = 10) => ({ options: { bulkSize, bulkFlushInterval } });
    expect(warnings({ amqp: { consumerTimeout: 5000 } }, bulk(1000))).toEqual([]);
    expect(warnings({ amqp: { consumerTimeout: 5000 } }, bulk(6000))).toHaveLength(1);
    // A bulk of one is handed over at once: its flush interval never holds a delivery.
    expect(warnings({ amqp: { consumerTimeout: 5000 } }, bulk(6000, 1))).toEqual([]);
  });
});

describe("the broker's consumer timeout on a real node (issue #15)", () => {
  let node: RabbitNode;
  let broker: Broker;
  beforeAll(async () => {
    node = await startRabbitNode({ config: [`consumer_timeout = ${CONSUMER_TIMEOUT}`] });
    await node.eval("application:set_env(rabbit, channel_tick_interval, 1000).");
    broker = await Broker.connect("/", node.url);
  }, 120_000);
  afterAll(async () => {
    await broker?.close();
    await node?.destroy();
  });

  it("slow handler under the consumer timeout: redeliveries count as attempts, the message ends in the DLQ (classic and quorum)", async () => {
    const classic = await broker.queue(uniqueName("ct-classic"));
    const quorum = await broker.queue(uniqueName("ct-quorum"), { "x-queue-type": "quorum" });
    for (const queue of [classic, quorum]) broker.track(`${queue}.dlq`);
    await broker.publish(classic, [{ q: "classic" }]);
    await broker.publish(quorum, [{ q: "quorum" }]);
    const { logger, lines } = captureLogs("info");
    const app = new App({
      logger,
      shutdownTimeout: 2000,
      amqp: { url: node.url, consumerTimeout: CONSUMER_TIMEOUT },
    });
    const runs = new Map<string, number[]>([
      [classic, []],
      [quorum, []],
    ]);
    const handler = async ([m]: { queue: string; attempt: number }[]) => {
      runs.get(m!.queue)!.push(m!.attempt);
      await new Promise((resolve) => setTimeout(resolve, 10_000)); // twice the consumer timeout
    };
    const retry = { maxAttempts: 3, backoff: { get: () => 50 } };
    app.route([classic], { type: RouteTypes.AMQP, retry }, handler);
    app.route([quorum], { type: RouteTypes.AMQP, retry }, handler);
    const startedAt = Date.now();
    await app.start();
    try {
      await waitFor(
        async () =>
          (await broker.count(`${classic}.dlq`)) === 1 && (await broker.count(`${quorum}.dlq`)) === 1,
        45_000,
        "both messages dead-lettered",
      );
      const elapsed = Date.now() - startedAt;
      for (const queue of [classic, quorum]) {
        expect(runs.get(queue)!.length, queue).toBeLessThanOrEqual(3);
        expect(runs.get(queue)!.length, queue).toBeGreaterThanOrEqual(2);
        const [letter] = await broker.getAll(`${queue}.dlq`);
        expect(letter!.properties.headers).toMatchObject({
          [WeirHeaders.REASON]: "max-attempts",
          [WeirHeaders.ERROR_CODE]: "WEIR_ERR_REDELIVERED",
          [WeirHeaders.ATTEMPTS]: 3,
        });
        expect(letter!.properties.headers?.["x-delivery-count"]).toBeUndefined();
        const health = routeHealth(app, queue);
        expect(health.consumerTimeouts).toBeGreaterThanOrEqual(2);
        expect(health.lastConsumerTimeout).toMatchObject({ queue, heldMs: expect.any(Number) });
        expect(await broker.count(queue)).toBe(0);
      }
      const timeouts = lines.filter(
        (line) => line.code === "WEIR_ERR_CONSUMER_TIMEOUT" && line.level === ERROR,
      );
      expect(timeouts.length).toBeGreaterThanOrEqual(4);
      expect(timeouts[0]).toMatchObject({ queue: expect.any(String), heldMs: expect.any(Number) });
      expect(timeouts[0]!.heldMs as number).toBeGreaterThanOrEqual(CONSUMER_TIMEOUT);
      console.info(
        `consumer timeout ${CONSUMER_TIMEOUT} ms, 10 s handler: classic ran ${runs.get(classic)!.length}x, ` +
          `quorum ran ${runs.get(quorum)!.length}x, both dead-lettered after ${elapsed} ms`,
      );
    } finally {
      await app.stop();
    }
  }, 90_000);

  it("slow handler with a route timeout under the consumer timeout: no channel is closed, attempts end in the DLQ", async () => {
    const queue = await broker.queue(uniqueName("ct-timeout"));
    broker.track(`${queue}.dlq`);
    broker.track(`${queue}.retry.50`);
    await broker.publish(queue, [{ n: 1 }]);
    const app = new App({
      logger: captureLogs("silent").logger,
      shutdownTimeout: 2000,
      amqp: { url: node.url },
    });
    const runs: number[] = [];
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        options: { timeout: 1500 },
        retry: { maxAttempts: 3, backoff: { get: () => 50 } },
      },
      async ([m], { signal }) => {
        runs.push(m!.attempt);
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 10_000);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve(undefined);
          });
        });
      },
    );
    await app.start();
    try {
      await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 20_000, "the dead letter");
      expect(runs).toEqual([1, 2, 3]);
      expect(routeHealth(app, queue)).toMatchObject({ consumerTimeouts: 0, reattachments: 0 });
      const [letter] = await broker.getAll(`${queue}.dlq`);
      expect(letter!.properties.headers).toMatchObject({
        [WeirHeaders.REASON]: "max-attempts",
        [WeirHeaders.ERROR_CODE]: "WEIR_ERR_HANDLER_TIMEOUT",
      });
    } finally {
      await app.stop();
    }
  }, 40_000);
});
