import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { closeConnections, queueConsumers } from "../helpers/rabbitmqctl.js";

/**
 * Topology on a route, broadcast routes and consumer options (issue #17), against RabbitMQ on 5672.
 * Every exchange and queue name is unique; the test's own amqplib connection cleans them up.
 */

type Health = Record<string, unknown> & { ready: boolean };

function routeHealth(app: App, index = 0): Health {
  return app.health().transports[0]?.routes[index] as Health;
}

describe("AMQP topology on a route (issue #17)", () => {
  let broker: Broker;
  const apps: App[] = [];
  const exchanges: string[] = [];

  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await broker.withChannel(async (channel) => {
      for (const exchange of exchanges.splice(0)) await channel.deleteExchange(exchange).catch(() => {});
    });
    await broker.close();
  });

  function app(name = uniqueName("app")): App {
    const created = createApp({ name, amqp: { reconnect: { floor: 50, ceiling: 500 } } });
    apps.push(created);
    return created;
  }

  function exchangeName(prefix: string): string {
    const name = uniqueName(prefix);
    exchanges.push(name);
    return name;
  }

  it("a topic exchange with three routes binding different patterns gets each message to exactly the right routes", async () => {
    const exchange = exchangeName("topic");
    const worker = app();
    const got: Record<string, number[]> = { all: [], created: [], euAudit: [] };
    const spec = (key: string, patterns: string | string[]) => {
      const queue = uniqueName(key);
      broker.track(queue);
      return [
        [queue],
        {
          type: RouteTypes.AMQP,
          declare: true,
          exchanges: [{ name: exchange, type: "topic" as const }],
          bindings: [{ exchange, routingKey: patterns }],
        },
        async (messages: { body: unknown }[]) => {
          for (const m of messages) got[key]!.push((m.body as { id: number }).id);
        },
      ] as const;
    };
    worker.route(...spec("all", "order.*"));
    worker.route(...spec("created", "order.created"));
    worker.route(...spec("euAudit", ["#.eu", "audit.#"]));
    await worker.start();
    const sends: Array<[string, number]> = [
      ["order.created", 1], // all, created
      ["order.shipped", 2], // all
      ["order.shipped.eu", 3], // euAudit only: `*` is one word
      ["audit", 4], // euAudit: `#` may be no word
      ["audit.user.login", 5], // euAudit
      ["invoice.paid", 6], // nobody
      ["order.created.eu", 7], // euAudit only
    ];
    for (const [routingKey, id] of sends) {
      const sending = worker.amqp.publish({ id }, { exchange, routingKey });
      // No binding matches it: the broker returns it (publishes are mandatory, issue 14.4).
      if (id === 6) await expect(sending).rejects.toMatchObject({ code: "WEIR_ERR_PUBLISH_UNROUTABLE" });
      else await sending;
    }
    await waitFor(
      () => got.all!.length >= 2 && got.created!.length >= 1 && got.euAudit!.length >= 4,
      5000,
      "the routed messages",
    );
    await sleep(300); // a message routed to a wrong route would arrive by now
    expect(got.all!.sort()).toEqual([1, 2]);
    expect(got.created).toEqual([1]);
    expect(got.euAudit!.sort()).toEqual([3, 4, 5, 7]);
  });

  it("a fanout broadcast reaches every one of three app instances, and still does after one is forcibly reconnected", async () => {
    const exchange = exchangeName("fanout");
    const names = [uniqueName("bc-a"), uniqueName("bc-b"), uniqueName("bc-c")];
    const seen = names.map(() => [] as number[]);
    const instances = names.map((name, index) => {
      const instance = app(name);
      instance.route(
        ["cache.invalidate"],
        {
          type: RouteTypes.AMQP,
          exchanges: [{ name: exchange, type: "fanout" }],
          broadcast: { exchange },
        },
        async (messages) => {
          for (const m of messages) seen[index]!.push((m.body as { n: number }).n);
        },
      );
      return instance;
    });
    await Promise.all(instances.map((instance) => instance.start()));
    const queues = instances.map((instance) => routeHealth(instance).broadcastQueue as string);
    expect(new Set(queues).size).toBe(3);
    for (const queue of queues) expect(queue).toMatch(/^amq\.gen-/);

    const publisher = instances[0]!;
    for (let n = 1; n <= 5; n++) await publisher.amqp.publish({ n }, { exchange });
    await waitFor(() => seen.every((list) => list.length >= 5), 5000, "every instance to see 5");
    expect(seen).toEqual([1, 2, 3].map(() => [1, 2, 3, 4, 5]));

    // The broker closes instance b's connection: its exclusive queue goes with it.
    expect(await closeConnections(`weir:${names[1]}:`)).toBe(1);
    await waitFor(() => routeHealth(instances[1]!).reconnects === 1, 15_000, "b to see the close");
    await waitFor(() => routeHealth(instances[1]!).ready, 15_000, "b to re-attach");
    const renewed = routeHealth(instances[1]!).broadcastQueue as string;
    expect(renewed).toMatch(/^amq\.gen-/);
    expect(renewed).not.toBe(queues[1]);
    expect(await broker.exists(queues[1]!)).toBe(false);

    for (let n = 6; n <= 10; n++) await publisher.amqp.publish({ n }, { exchange });
    await waitFor(() => seen.every((list) => list.length >= 10), 5000, "every instance to see 10");
    await sleep(200);
    expect(seen).toEqual([1, 2, 3].map(() => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  });

  it("an exchange that exists with other arguments fails the start with WEIR_ERR_EXCHANGE_DECLARE naming it and both argument sets", async () => {
    const exchange = exchangeName("conflict");
    await broker.withChannel((channel) => channel.assertExchange(exchange, "fanout", { durable: true }));
    const worker = app();
    worker.route(
      [uniqueName("unused")],
      { type: RouteTypes.AMQP, declare: true, exchanges: [{ name: exchange, type: "topic" }] },
      async () => {},
    );
    const failure = await worker.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({
      code: "WEIR_ERR_EXCHANGE_DECLARE",
      object: { kind: "exchange", name: exchange, declared: expect.objectContaining({ type: "topic" }) },
      existing: { type: "'fanout'" },
    });
    expect((failure as Error).message).toContain(`exchange "${exchange}"`);
    expect((failure as Error).message).toContain('"type":"topic"');
    // And what to do: the existing value to declare, or the object to delete.
    expect((failure as Error).message).toContain(
      `To fix: declare it as it is ("type": 'fanout'), or delete the exchange`,
    );
  });

  it("a re-declare refused after a reconnect leaves the unrelated route of the same connection consuming", async () => {
    const exchange = exchangeName("redeclare");
    const name = uniqueName("redeclare-app");
    const worker = app(name);
    const good = await broker.queue(uniqueName("good"));
    const bad = uniqueName("bad");
    broker.track(bad);
    const got: number[] = [];
    worker.route([good], { type: RouteTypes.AMQP }, async (messages) => {
      for (const m of messages) got.push((m.body as { n: number }).n);
    });
    worker.route(
      [bad],
      {
        type: RouteTypes.AMQP,
        declare: true,
        exchanges: [{ name: exchange, type: "direct" }],
        bindings: [{ exchange, routingKey: "k" }],
      },
      async () => {},
    );
    await worker.start();
    // Someone re-creates the exchange with another type while the app runs.
    await broker.withChannel(async (channel) => {
      await channel.deleteExchange(exchange);
      await channel.assertExchange(exchange, "fanout", { durable: true });
    });
    expect(await closeConnections(`weir:${name}:`)).toBe(1);
    await waitFor(() => routeHealth(worker, 0).reconnects === 1, 15_000, "the close");
    await waitFor(() => routeHealth(worker, 0).ready, 15_000, "the good route to re-attach");
    await broker.publish(good, [{ n: 1 }, { n: 2 }]);
    await waitFor(() => got.length === 2, 5000, "the good route to consume");
    await sleep(300); // several re-attach attempts of the bad route, each refused on its own channel
    expect(routeHealth(worker, 1).ready).toBe(false);
    expect(routeHealth(worker, 0).ready).toBe(true);
    await broker.publish(good, [{ n: 3 }]);
    await waitFor(() => got.length === 3, 5000, "the good route to keep consuming");
  });

  it("single active consumer: only the first instance receives; when it stops the second takes over", async () => {
    const queue = uniqueName("sac");
    broker.track(queue);
    const received = [[], []] as number[][];
    const instances = [0, 1].map((index) => {
      const instance = app();
      instance.route(
        [queue],
        { type: RouteTypes.AMQP, declare: true, consumer: { singleActiveConsumer: true } },
        async (messages) => {
          for (const m of messages) received[index]!.push((m.body as { n: number }).n);
        },
      );
      return instance;
    });
    await instances[0]!.start();
    await instances[1]!.start();
    await broker.publish(
      queue,
      [1, 2, 3, 4].map((n) => ({ n })),
    );
    await waitFor(() => received[0]!.length === 4, 5000, "the active instance");
    await sleep(200);
    expect(received[1]).toEqual([]);
    expect(routeHealth(instances[0]!).singleActiveConsumer).toMatchObject({ active: true });
    expect(routeHealth(instances[1]!).singleActiveConsumer).toMatchObject({ active: false });
    // The broker's own view (rabbitmqctl list_consumers): one active, one waiting.
    const before = await queueConsumers(queue);
    expect(before.map((consumer) => consumer.active).sort()).toEqual([false, true]);

    await instances[0]!.stop();
    await broker.publish(
      queue,
      [5, 6].map((n) => ({ n })),
    );
    await waitFor(() => received[1]!.length === 2, 10_000, "the second instance to take over");
    expect(received[1]).toEqual([5, 6]);
    expect(routeHealth(instances[1]!).singleActiveConsumer).toMatchObject({ active: true });
  });

  it("consumer priority: the higher-priority consumer gets every message while it has room", async () => {
    const queue = await broker.queue(uniqueName("prio"));
    const counts = [0, 0];
    const instances = [1, 10].map((priority, index) => {
      const instance = app();
      instance.route([queue], { type: RouteTypes.AMQP, consumer: { priority } }, async (messages) => {
        counts[index]! += messages.length;
      });
      return instance;
    });
    await Promise.all(instances.map((instance) => instance.start()));
    await broker.publish(
      queue,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    await waitFor(() => counts[0]! + counts[1]! === 20, 5000, "every message");
    expect(counts).toEqual([0, 20]);
  });

  it("an exclusive consumer is the queue's only one: a second instance's start is refused", async () => {
    const queue = await broker.queue(uniqueName("exclusive"));
    const first = app();
    first.route([queue], { type: RouteTypes.AMQP, consumer: { exclusive: true } }, async () => {});
    await first.start();
    const second = app();
    second.route([queue], { type: RouteTypes.AMQP }, async () => {});
    await expect(second.start()).rejects.toMatchObject({ code: "WEIR_ERR_ACCESS_REFUSED" });
  });
});
