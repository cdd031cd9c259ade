import * as amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { App, RouteTypes } from "../../src/index.js";
import { Broker, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { captureLogs, type LogLine, WARN } from "../helpers/logs.js";
import { type RabbitNode, startRabbitNode } from "../helpers/rabbit-node.js";
import { report } from "./report.js";

/**
 * Issue #15, kind 2: `stop()` overran its deadline during a memory alarm (20.4 s against a 3 s
 * `shutdownTimeout`): RabbitMQ stops reading from a connection that publishes during an alarm, so a
 * channel close waits for a reply that does not come until the alarm clears. On an extra node
 * started here, never the shared one on 5672.
 */

const SHUTDOWN_TIMEOUT = 3000;
/** What stop() may take past its deadline: the closes' grace (500 ms) and the bookkeeping. */
const MARGIN = 1000;
const MESSAGES = 300;

/** Open TCP sockets of this process. */
function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === "TCPSocketWrap").length;
}

/** The broker's pressure in one test: put on while the app consumes and publishes, then taken off. */
interface Pressure {
  readonly name: string;
  apply(lines: readonly LogLine[]): Promise<void>;
  release(): Promise<void>;
}

describe("fault: stop() under a memory alarm or a frozen broker (issue #15.2)", () => {
  let node: RabbitNode;
  let release: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    node = await startRabbitNode();
  }, 120_000);

  afterAll(async () => {
    await release?.().catch(() => {});
    await node?.destroy();
  });

  /**
   * An app consumes `queue` and publishes one message per delivery; under `pressure` it is stopped
   * with a 3 s deadline. Returns what a test asserts: how long stop() took, the abandon lines, and
   * which messages neither finished nor came back (lost).
   */
  async function stopUnder(pressure: Pressure) {
    const broker = await Broker.connect("/", node.url);
    const queue = await broker.queue(uniqueName(`${pressure.name}-in`));
    const out = await broker.queue(uniqueName(`${pressure.name}-out`));
    const ids = Array.from({ length: MESSAGES }, (_, i) => i);
    await broker.publish(queue, ids);

    const { logger, lines } = captureLogs("info");
    const app = new App({
      logger,
      shutdownTimeout: SHUTDOWN_TIMEOUT,
      amqp: { url: node.url, reconnect: { floor: 50, ceiling: 500 } },
      observability: { metrics: { path: false, defaultMetrics: false } },
    });
    const socketsBefore = tcpSockets();
    /** Ids whose handler finished: its publish confirmed, so its ack was sent. */
    const done = new Set<number>();
    app.route([queue], { type: RouteTypes.AMQP, prefetch: 20 }, async ([m]) => {
      const id = m?.body as number;
      await sleep(20);
      await app.amqp.publish({ id }, { routingKey: out });
      done.add(id);
    });
    await app.start();
    await waitFor(() => done.size >= 20, 10_000, "the route to handle some messages");

    release = () => pressure.release();
    await pressure.apply(lines);
    const handledBeforeStop = done.size;

    const started = performance.now();
    const stopping = app.stop();
    const finished = await Promise.race([stopping.then(() => true), sleep(20_000).then(() => false)]);
    const stopMs = Math.round(performance.now() - started);
    // An abandoned connection's socket is destroyed: nothing of the app keeps the process alive.
    const socketsLeft = await waitFor(
      () => tcpSockets() === socketsBefore,
      2000,
      "the app's sockets to close",
    )
      .then(() => 0)
      .catch(() => tcpSockets() - socketsBefore);
    const route = app.health().transports[0]?.routes[0];
    const metric = await app.metrics?.getSingleMetric("weir_stop_abandoned_total")?.get();

    await pressure.release();
    release = undefined;
    if (!finished) await stopping;
    const abandoned = lines.filter((line) => line.level === WARN && line.code === "WEIR_ERR_STOP_ABANDONED");

    // Every message whose handler did not finish must come back: the broker requeues the unacked
    // messages of the abandoned connection once it reads from it again.
    const redelivered = new Set<number>();
    const connection = await amqp.connect(node.url);
    const channel = await connection.createChannel();
    await channel.consume(queue, (message) => {
      if (message === null) return;
      redelivered.add(JSON.parse(message.content.toString()) as number);
      channel.ack(message);
    });
    const missing = (): number[] => ids.filter((id) => !done.has(id) && !redelivered.has(id));
    await waitFor(() => missing().length === 0, 30_000, "every unfinished message back").catch(() => {});
    const lost = missing();
    await connection.close();
    await broker.close();

    report(`stop-under-${pressure.name}`, {
      shutdownTimeoutMs: SHUTDOWN_TIMEOUT,
      stopMs,
      handledBeforeStop,
      handled: done.size,
      redelivered: redelivered.size,
      duplicates: [...redelivered].filter((id) => done.has(id)).length,
      lost: lost.length,
      abandoned: abandoned.map((line) => line.what),
    });
    return { finished, stopMs, abandoned, socketsLeft, route, metric, lost };
  }

  it("a memory alarm: stop() ends within shutdownTimeout, and the unacked come back after the alarm", async () => {
    const result = await stopUnder({
      name: "memory-alarm",
      apply: async (lines) => {
        await node.ctl("set_vm_memory_high_watermark", "0.000001");
        // RabbitMQ blocks a connection once it publishes during the alarm: the handler's next publish.
        await waitFor(
          () => lines.some((line) => /blocked the connection/.test(line.msg)),
          15_000,
          "the broker to block the connection",
        );
      },
      release: async () => {
        await node.ctl("set_vm_memory_high_watermark", "0.4");
      },
    });
    expect(result.finished).toBe(true);
    expect(result.stopMs).toBeLessThan(SHUTDOWN_TIMEOUT + MARGIN);
    const what = result.abandoned.map((line) => line.what);
    // The broker blocks the publishing connection only (issue #15.1): the routes' channel and
    // connection close normally, and only the publish channel's close is abandoned.
    expect(what).toEqual(expect.arrayContaining(["publish channel close"]));
    expect(what).not.toContain("consumer channel close");
    expect(result.socketsLeft).toBe(0);
    expect(result.route?.stopAbandoned).toBe(result.abandoned.length);
    expect(result.metric?.values[0]?.value).toBe(result.abandoned.length);
    expect(result.lost).toEqual([]);
  }, 120_000);

  it("a frozen broker (SIGSTOP): the connection close is abandoned and its socket destroyed", async () => {
    const result = await stopUnder({
      name: "frozen-broker",
      apply: async () => {
        process.kill(node.pid(), "SIGSTOP");
      },
      release: async () => {
        process.kill(node.pid(), "SIGCONT");
      },
    });
    expect(result.finished).toBe(true);
    expect(result.stopMs).toBeLessThan(SHUTDOWN_TIMEOUT + MARGIN);
    const what = result.abandoned.map((line) => line.what);
    expect(what).toEqual(expect.arrayContaining(["consumer channel close", "connection close"]));
    // The broker cannot close it from its side: only weir's abandon ends the socket.
    expect(result.socketsLeft).toBe(0);
    expect(result.lost).toEqual([]);
  }, 120_000);
});
