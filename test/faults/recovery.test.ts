import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { App, RouteTypes } from "../../src/index.js";
import { Broker, createApp, silentLogger, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { closeConnections, connectionTimeouts } from "../helpers/rabbitmqctl.js";
import { report } from "./report.js";

describe("fault: broker-side consumer cancel and channel errors (amqp-connection-manager #378, faststream #2758)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("a consumed queue deleted and declared again: the route consumes again, its other queue never stops", async () => {
    const doomed = await broker.queue(uniqueName("deleted"));
    const steady = await broker.queue(uniqueName("steady"));
    const app = createApp({ amqp: { reconnect: { floor: 50, ceiling: 300 } } });
    const seen: string[] = [];
    app.route([doomed, steady], { type: RouteTypes.AMQP }, async (messages) => {
      for (const m of messages) seen.push(m.body as string);
    });
    await app.start();
    await broker.publish(doomed, ["before"]);
    await waitFor(() => seen.includes("before"));

    await broker.deleteQueue(doomed);
    await waitFor(() => app.health().ready === false, 3000, "readiness to drop");
    expect(app.health().transports[0]?.routes[0]).toMatchObject({ consuming: [steady] });
    await broker.publish(steady, ["steady while the other is gone"]);
    await waitFor(() => seen.includes("steady while the other is gone"), 3000, "the other queue");

    const recreatedAt = Date.now();
    await broker.queue(doomed);
    await waitFor(() => app.health().ready, 10_000, "the route to consume again");
    const resumeMs = Date.now() - recreatedAt;
    await broker.publish(doomed, ["after"]);
    await waitFor(() => seen.includes("after"), 5000, "a message on the re-declared queue");
    await app.stop();
    report("queue-deleted", { resumeMs });
  }, 30_000);

  it("a route declaring its queue re-declares it after a reconnect", async () => {
    const queue = uniqueName("redeclare");
    const name = uniqueName("redeclare-app");
    const app = createApp({ name, amqp: { reconnect: { floor: 50, ceiling: 300 } } });
    const seen: unknown[] = [];
    app.route(
      [queue],
      { type: RouteTypes.AMQP, declare: { durable: false, autoDelete: true } },
      async ([m]) => {
        seen.push(m?.body);
      },
    );
    await app.start();
    // An auto-delete queue disappears with its last consumer: only a re-declare brings it back.
    expect(await closeConnections(`weir:${name}:`)).toBe(1);
    await waitFor(() => app.health().ready, 10_000, "re-attached");
    await broker.publish(queue, ["after reconnect"]);
    await waitFor(() => seen.length === 1, 5000, "delivery after re-declare");
    await app.stop();
  }, 30_000);

  it("a channel error in one route does not stop another route", async () => {
    const good = await broker.queue(uniqueName("good"));
    const fragile = await broker.queue(uniqueName("fragile"));
    const app = createApp({ amqp: { reconnect: { floor: 50, ceiling: 300 } } });
    const seen: string[] = [];
    app.route([good], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(`good:${String(m?.body)}`);
    });
    app.route([fragile], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(`fragile:${String(m?.body)}`);
      // Acking an unknown delivery tag is a channel error (406 PRECONDITION_FAILED): the broker closes
      // this route's channel.
      m?.accept();
      (m as unknown as { session: { channel: { ack(d: unknown): void } } }).session.channel.ack({
        fields: { deliveryTag: 999_999 },
      });
    });
    await app.start();
    await broker.publish(fragile, [1]);
    await broker.publish(good, [1]);
    await waitFor(() => seen.includes("fragile:1") && seen.includes("good:1"));
    await broker.publish(good, [2]);
    await broker.publish(fragile, [2]);
    await waitFor(() => seen.includes("good:2") && seen.includes("fragile:2"), 10_000, "both routes alive");
    const routes = app.health().transports[0]?.routes ?? [];
    await app.stop();
    expect(routes.find((r) => r.name === fragile)?.reattachments).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe("connection loss and stop", () => {
  it("calls onConnectionError per failed attempt and gives up after maxAttempts with a coded error", async () => {
    const attempts: number[] = [];
    const app = new App({
      logger: silentLogger,
      amqp: {
        url: "amqp://guest:secret-pw@127.0.0.1:1",
        reconnect: { floor: 10, ceiling: 20, maxAttempts: 3 },
        onConnectionError: (_error, attempt) => {
          attempts.push(attempt);
        },
      },
    });
    app.route(["q"], { type: RouteTypes.AMQP }, async () => {});
    const failure = app.start();
    await expect(failure).rejects.toMatchObject({ code: "WEIR_ERR_CONNECTION" });
    await expect(failure).rejects.not.toThrow(/secret-pw/);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("stop() during a reconnect loop cancels it, ends within shutdownTimeout and runs the shutdown hooks", async () => {
    const app = new App({
      logger: silentLogger,
      shutdownTimeout: 1000,
      amqp: { url: "amqp://guest:guest@127.0.0.1:1", reconnect: { floor: 5000, ceiling: 30_000 } },
    });
    let consumed = false;
    const hooks: string[] = [];
    app.onStartup(() => hooks.push("startup"));
    app.onShutdown(() => hooks.push("shutdown"));
    app.route(["q"], { type: RouteTypes.AMQP }, async () => {
      consumed = true;
    });
    const starting = app.start();
    await sleep(100); // the loop is now sleeping out a 5 s backoff
    const t0 = Date.now();
    await app.stop();
    expect(Date.now() - t0).toBeLessThan(1500);
    await expect(starting).rejects.toMatchObject({ code: "WEIR_ERR_STOPPED_DURING_START" });
    expect(hooks).toEqual(["startup", "shutdown"]);
    expect(consumed).toBe(false);
  });

  it("negotiates the configured heartbeat", async () => {
    const name = uniqueName("heartbeat");
    const broker = await Broker.connect();
    const queue = await broker.queue(uniqueName("hb"));
    const app = createApp({ name, amqp: { heartbeat: 7 } });
    app.route([queue], { type: RouteTypes.AMQP }, async () => {});
    await app.start();
    expect(await connectionTimeouts(`weir:${name}:`)).toEqual([7]);
    await app.stop();
    await broker.close();
  });
});
