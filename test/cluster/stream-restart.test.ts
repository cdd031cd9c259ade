import * as amqp from "amqplib";
import { afterAll, describe, expect, it } from "vitest";
import { uniqueName } from "../helpers/amqp.js";
import { ChildWorker } from "../helpers/child-worker.js";
import type { RabbitNode } from "../helpers/rabbit-node.js";
import { sharedCluster, until } from "./cluster-helpers.js";

/**
 * Issue #18, cluster test 3: a stream route restarted mid-stream continues from its stored offset,
 * on the 3-node cluster. A stream replicated on the 3 nodes holds 2,000 messages; a worker (a child
 * process, test/faults/worker.ts) connected to one node reads it in bulks of 20 and is killed with
 * SIGKILL while a bulk is in its handler; a second worker, connected to another node, continues
 * from the offset the first stored (a quorum queue of the cluster): nothing skipped, each worker in
 * stream order, and only the last bulk the killed worker finished may be handled twice. The figures
 * are printed (`[stream-restart]` line) for docs/cluster.md.
 */

const cluster = sharedCluster();
const workers: ChildWorker[] = [];
const queues: string[] = [];

afterAll(async () => {
  for (const worker of workers.splice(0)) if (!worker.exited) worker.kill("SIGKILL");
  for (const queue of queues) await cluster.deleteQueue(queue, cluster.nodes[0]!);
});

const TOTAL = 2_000;
const BULK_SIZE = 20;

/** Publishes `count` persistent messages `{ id }` with confirms through `via`. */
async function publishIds(via: RabbitNode, queue: string, count: number): Promise<void> {
  const connection = await amqp.connect(via.url);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(queue, {
      durable: true,
      arguments: { "x-queue-type": "stream", "x-initial-cluster-size": 3 },
    });
    for (let id = 0; id < count; id++) {
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id })), {
        persistent: true,
        contentType: "application/json",
      });
    }
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** The AMQP ports (hence nodes) of the connections whose name contains `app`, as `via` lists them. */
async function connectedPorts(via: RabbitNode, app: string): Promise<number[]> {
  const out = await via.ctl("list_connections", "port", "client_properties", "--formatter", "json");
  const rows = JSON.parse(out) as Array<{ port: number; client_properties: unknown }>;
  return rows.filter((row) => JSON.stringify(row.client_properties).includes(app)).map((row) => row.port);
}

const ids = (count: number, from = 0) => Array.from({ length: count }, (_, i) => from + i);

describe("a stream route on the cluster (issue #18)", () => {
  it("test 3: a stream worker SIGKILLed mid-stream and restarted on another node continues from its stored offset", {
    timeout: 90_000,
  }, async () => {
    const queue = uniqueName("cluster-stream");
    const consumer = uniqueName("reader");
    queues.push(queue, `${queue}.weir-offsets.${consumer}`);
    const [seed, firstNode, secondNode] = cluster.nodes as [RabbitNode, RabbitNode, RabbitNode];
    await publishIds(seed, queue, TOTAL);
    const spawn = (node: RabbitNode, delayMs: number) => {
      const app = uniqueName("stream-child");
      const worker = new ChildWorker({
        APP_NAME: app,
        QUEUE: queue,
        STREAM_CONSUMER: consumer,
        BULK_SIZE: String(BULK_SIZE),
        PREFETCH: "100",
        HANDLER_DELAY_MS: String(delayMs),
        // Its preferred node first, the others as fallbacks.
        WEIR_AMQP_URL: cluster.urlsFrom(node).join(","),
      });
      workers.push(worker);
      return { worker, app };
    };

    const first = spawn(firstNode, 100);
    await until(() => first.worker.ready, 30_000, "the first worker consuming");
    const firstPorts = await connectedPorts(seed, first.app);
    await until(
      () => first.worker.doneIds.length >= 300 && first.worker.started.length > first.worker.done.length,
      30_000,
      "the first worker mid-bulk",
    );
    first.worker.kill("SIGKILL");
    await first.worker.waitExit(5_000);
    const firstDone = first.worker.doneIds;
    const lastDoneBulk = first.worker.done.at(-1) ?? [];

    const killedAt = Date.now();
    const second = spawn(secondNode, 0);
    const handled = () => new Set([...firstDone, ...second.worker.doneIds]).size;
    await until(() => handled() === TOTAL, 60_000, "every message handled");
    const drainedMs = Date.now() - killedAt;
    const secondPorts = await connectedPorts(seed, second.app);
    await new Promise((resolve) => setTimeout(resolve, 500));
    second.worker.kill("SIGTERM");
    await second.worker.waitExit(15_000);
    const secondDone = second.worker.doneIds;

    const resumedAt = secondDone[0] ?? -1;
    const twice = firstDone.filter((id) => secondDone.includes(id));
    const figures = {
      messages: TOTAL,
      firstWorker: { node: firstNode.node, ports: firstPorts, handled: firstDone.length },
      secondWorker: { node: secondNode.node, ports: secondPorts, handled: secondDone.length, resumedAt },
      handledTwice: twice.length,
      skipped: TOTAL - new Set([...firstDone, ...secondDone]).size,
      drainedAfterKillMs: drainedMs,
    };
    process.stdout.write(`[stream-restart] ${JSON.stringify(figures)}\n`);

    // Each worker on its own node (every connection of it on its preferred node's port).
    expect(firstPorts.length).toBeGreaterThan(0);
    expect(firstPorts.every((port) => port === firstNode.port)).toBe(true);
    expect(secondPorts.length).toBeGreaterThan(0);
    expect(secondPorts.every((port) => port === secondNode.port)).toBe(true);
    // The kill landed mid-stream.
    expect(firstDone.length).toBeLessThan(TOTAL - BULK_SIZE);
    // Nothing skipped: every id handled, each worker in stream order.
    expect(figures.skipped).toBe(0);
    expect(firstDone).toEqual(ids(firstDone.length));
    expect(secondDone).toEqual(ids(TOTAL - resumedAt, resumedAt));
    // Handled twice: only the last bulk the killed worker finished (its commit may not have landed).
    expect(twice.length).toBeLessThanOrEqual(BULK_SIZE);
    for (const id of twice) expect(lastDoneBulk).toContain(id);
    expect(second.worker.exited?.code).toBe(0);
  });
});
