import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, PublishError, RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { type RabbitNode, startRabbitNode } from "../helpers/rabbit-node.js";
import { report } from "./report.js";

/**
 * Stops the whole broker application of an extra node started for this file (the node on 5672
 * serves the rest of the suite and is never stopped): every connection to it drops.
 */
describe("fault: broker restart (rabbitmqctl stop_app / start_app) while consuming and publishing", () => {
  let node: RabbitNode;
  let broker: Broker | undefined;
  beforeAll(async () => {
    node = await startRabbitNode();
  }, 120_000);
  afterAll(async () => {
    await node?.destroy();
  });
  beforeEach(async () => {
    broker = await Broker.connect("/", node.url);
  });
  afterEach(async () => {
    await node.startApp().catch(() => {}); // whatever happened, leave the node running
    broker = await Broker.connect("/", node.url).catch(() => undefined);
    await broker?.close();
  });

  it("reconnects, and every confirmed publish is consumed; unconfirmed ones reject with a coded error", async () => {
    const queue = uniqueName("restart");
    const app = createApp({
      amqp: { url: node.url, reconnect: { floor: 100, ceiling: 1000 }, publishTimeout: 15_000 },
    });
    const consumed = new Set<number>();
    let lastConsumedAt = 0;
    app.route(
      [queue],
      { type: RouteTypes.AMQP, declare: true, options: { bulkSize: 10, bulkFlushInterval: 50 } },
      async (messages: AMQPMessage<{ id: number }>[]) => {
        for (const m of messages) consumed.add(m.body.id);
        lastConsumedAt = Date.now();
      },
    );
    await app.start();
    await broker?.close();
    broker = undefined;

    const confirmed = new Set<number>();
    const rejected: string[] = [];
    const publishes: Promise<void>[] = [];
    let nextId = 0;
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing && i < 2000; i++) {
        const id = nextId++;
        publishes.push(
          app.amqp.publish({ id }, { routingKey: queue }).then(
            () => {
              confirmed.add(id);
            },
            (error: unknown) => {
              rejected.push(
                error instanceof PublishError ? error.code : `not a PublishError: ${String(error)}`,
              );
            },
          ),
        );
        await sleep(20);
      }
    })();

    await sleep(1500);
    await node.stopApp();
    const downAt = Date.now();
    await sleep(3000);
    await node.startApp();
    const upAt = Date.now();
    await waitFor(() => lastConsumedAt > upAt, 30_000, "consumption to resume");
    const resumeMs = lastConsumedAt - upAt;
    await sleep(1500);
    publishing = false;
    await publisher;
    await Promise.all(publishes);
    await waitFor(
      () => [...confirmed].every((id) => consumed.has(id)),
      30_000,
      "every confirmed id consumed",
    );
    const lost = [...confirmed].filter((id) => !consumed.has(id)).length;
    await app.stop();
    report("broker-restart", {
      published: nextId,
      confirmed: confirmed.size,
      rejected: rejected.length,
      rejectedCodes: [...new Set(rejected)],
      consumed: consumed.size,
      lost,
      outageMs: upAt - downAt,
      resumeMs,
    });
    expect(lost).toBe(0);
    expect(confirmed.size).toBeGreaterThan(0);
    expect(rejected.every((code) => code.startsWith("WEIR_ERR_PUBLISH_"))).toBe(true);
    expect(confirmed.size + rejected.length).toBe(nextId);
  }, 90_000);
});
