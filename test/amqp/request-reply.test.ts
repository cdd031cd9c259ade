import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AMQPMessage, type App, RemoteError, RouteTypes, UnrecoverableError } from "../../src/index.js";
import { Broker, createApp, dropConnections, sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { differs } from "../helpers/broker-differences.js";
import { captureLogs, linesMatching, WARN } from "../helpers/logs.js";
import { TEST_BROKER } from "../helpers/test-broker.js";

const UNROUTABLE = "a request no queue is bound for rejects at once with WEIR_ERR_PUBLISH_UNROUTABLE";

/**
 * Request / reply over RabbitMQ's direct reply-to (issue #17): `app.amqp.request` and routes with
 * `reply`, against RabbitMQ on 5672 (and the in-memory broker under WEIR_TEST_BROKER=memory, where
 * the unroutable case is a listed difference). Every queue name is unique and deleted after.
 */

describe("AMQP request / reply (issue #17)", () => {
  let broker: Broker;
  const apps: App[] = [];

  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await broker.close();
  });

  function app(name = uniqueName("rpc")): App {
    const created = createApp({ name, amqp: { reconnect: { floor: 50, ceiling: 500 } } });
    apps.push(created);
    return created;
  }

  async function server(
    handler: (messages: AMQPMessage[]) => unknown,
    options: {
      bulkSize?: number;
      concurrency?: number;
      reply?: boolean | { includeStack: boolean };
      /** Leave `onException` to the route's default. */
      defaultOnException?: boolean;
    } = {},
  ): Promise<{ app: App; queue: string; calls: AMQPMessage[][] }> {
    const queue = await broker.queue(uniqueName("rpc"));
    const serving = app();
    const calls: AMQPMessage[][] = [];
    serving.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        reply: options.reply ?? true,
        prefetch: 200,
        options: {
          bulkSize: options.bulkSize ?? 1,
          concurrency: options.concurrency ?? 1,
          bulkFlushInterval: 20,
          ...(options.defaultOnException !== true && { onException: "reject" as const }),
        },
      },
      async (messages) => {
        calls.push(messages);
        return handler(messages);
      },
    );
    await serving.start();
    return { app: serving, queue, calls };
  }

  it("1,000 concurrent requests to a replying route all resolve with their own replies", async () => {
    const { queue } = await server(
      (messages) =>
        messages.map((m) => ({ n: (m.body as { n: number }).n, doubled: (m.body as { n: number }).n * 2 })),
      { bulkSize: 50 },
    );
    const client = app();
    await client.start();
    const replies = await Promise.all(
      Array.from({ length: 1000 }, (_, n) =>
        client.amqp.request<{ n: number; doubled: number }>({ n }, { routingKey: queue, timeout: 30_000 }),
      ),
    );
    expect(replies).toHaveLength(1000);
    for (let n = 0; n < 1000; n++) expect(replies[n]).toEqual({ n, doubled: n * 2 });
    expect(await broker.count(queue)).toBe(0);
  });

  it("m.reply() wins over the returned array; a bulk's replies keep their order", async () => {
    const { queue } = await server(
      (messages) => {
        for (const m of messages)
          if ((m.body as { n: number }).n % 2 === 0) m.reply(`even ${(m.body as { n: number }).n}`);
        return messages.map((m) => `returned ${(m.body as { n: number }).n}`);
      },
      { bulkSize: 10 },
    );
    const client = app();
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, n) => client.amqp.request({ n }, { routingKey: queue })),
    );
    expect(replies).toEqual(
      Array.from({ length: 10 }, (_, n) => (n % 2 === 0 ? `even ${n}` : `returned ${n}`)),
    );
  });

  it("a request to a queue nobody consumes times out with WEIR_ERR_REQUEST_TIMEOUT, and expires there", async () => {
    const queue = await broker.queue(uniqueName("nobody"));
    const client = app();
    const started = Date.now();
    const error = await client.amqp
      .request({ hello: 1 }, { routingKey: queue, timeout: 300 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WEIR_ERR_REQUEST_TIMEOUT", timeout: 300, routingKey: queue });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // The request's expiration is its timeout: nobody works on it later.
    await waitFor(async () => (await broker.count(queue)) === 0, 5_000);
  });

  it.skipIf(differs(TEST_BROKER, UNROUTABLE) !== undefined)(
    differs(TEST_BROKER, UNROUTABLE) === undefined
      ? UNROUTABLE
      : `${UNROUTABLE} (skipped: ${differs(TEST_BROKER, UNROUTABLE)})`,
    async () => {
      const client = app();
      const started = Date.now();
      const error = await client.amqp
        .request({}, { routingKey: uniqueName("missing"), timeout: 5_000 })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "WEIR_ERR_PUBLISH_UNROUTABLE", sent: false });
      expect(Date.now() - started).toBeLessThan(2_000);
    },
  );

  it("a throwing handler replies a RemoteError (code and message, no stack) and settles by its rules", async () => {
    class PaymentDeclined extends Error {
      readonly code = "PAYMENT_DECLINED";
    }
    const { queue, calls } = await server(() => {
      throw new PaymentDeclined("card expired");
    });
    const client = app();
    const error = await client.amqp.request({ amount: 10 }, { routingKey: queue }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({
      code: "WEIR_ERR_REMOTE",
      remoteCode: "PAYMENT_DECLINED",
      remoteName: "PaymentDeclined",
      message: "card expired",
      remoteStack: undefined,
    });
    // onException "reject": the request is gone from the queue, handled once.
    await sleep(200);
    expect(calls).toHaveLength(1);
    expect(await broker.count(queue)).toBe(0);
  });

  it("reply: { includeStack: true } sends the stack", async () => {
    const { queue } = await server(
      () => {
        throw new Error("boom");
      },
      { reply: { includeStack: true } },
    );
    const error = (await app()
      .amqp.request({}, { routingKey: queue })
      .catch((e: unknown) => e)) as RemoteError;
    expect(error.remoteStack).toContain("boom");
    expect(error.remoteStack).toContain("request-reply.test.ts");
  });

  it("a handler that returns no array answers each caller with WEIR_ERR_REPLY_SHAPE", async () => {
    const { queue } = await server(() => ({ not: "an array" }));
    const error = await app()
      .amqp.request({}, { routingKey: queue })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WEIR_ERR_REMOTE", remoteCode: "WEIR_ERR_REPLY_SHAPE" });
  });

  it("a route with retry replies only from the last attempt; an UnrecoverableError at once", async () => {
    const queue = await broker.queue(uniqueName("rpc-retry"));
    broker.track(`${queue}.dlq`);
    const serving = app();
    let calls = 0;
    serving.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        reply: true,
        retry: { maxAttempts: 3, backoff: { get: () => 50 } },
      },
      async (messages) => {
        calls++;
        const body = messages[0]!.body as { fatal?: boolean };
        if (body.fatal) throw new UnrecoverableError("never");
        if (messages[0]!.attempt < 3) throw new Error(`attempt ${messages[0]!.attempt}`);
        return ["third time lucky"];
      },
    );
    await serving.start();
    const client = app();
    await expect(client.amqp.request({}, { routingKey: queue, timeout: 10_000 })).resolves.toBe(
      "third time lucky",
    );
    expect(calls).toBe(3);
    const error = await client.amqp
      .request({ fatal: true }, { routingKey: queue, timeout: 10_000 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WEIR_ERR_REMOTE", remoteCode: "WEIR_ERR_UNRECOVERABLE" });
    expect(calls).toBe(4);
  });

  it("a late reply is dropped, never given to another caller", async () => {
    let slow = true;
    const { queue } = await server(async () => {
      if (slow) {
        slow = false;
        await sleep(400);
        return ["late"];
      }
      return ["on time"];
    });
    const client = app();
    const first = await client.amqp.request({}, { routingKey: queue, timeout: 150 }).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: "WEIR_ERR_REQUEST_TIMEOUT" });
    // The late reply arrives while the second request waits: the second gets its own.
    await expect(client.amqp.request({}, { routingKey: queue, timeout: 5_000 })).resolves.toBe("on time");
  });

  it("m.reply() on a route without reply throws WEIR_ERR_REPLY_NOT_ENABLED; a message without replyTo gets no reply", async () => {
    const queue = await broker.queue(uniqueName("plain"));
    const serving = app();
    const errors: unknown[] = [];
    serving.route([queue], { type: RouteTypes.AMQP }, async (messages) => {
      try {
        messages[0]!.reply("x");
      } catch (error) {
        errors.push(error);
      }
    });
    await serving.start();
    await broker.publish(queue, [{}]);
    await waitFor(() => errors.length === 1, 5_000);
    expect(errors[0]).toMatchObject({ code: "WEIR_ERR_REPLY_NOT_ENABLED" });

    const replying = await server(() => ["nobody hears this"]);
    await broker.publish(replying.queue, [{ plain: true }]);
    await waitFor(() => replying.calls.length === 1, 5_000);
    expect(await broker.count(replying.queue)).toBe(0);
  });

  it("refuses bad options at once, with nothing sent", async () => {
    const queue = await broker.queue(uniqueName("opts"));
    const client = app();
    await expect(client.amqp.request({}, { routingKey: queue, timeout: -1 })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "request.timeout",
    });
    await expect(
      client.amqp.request({}, { routingKey: queue, replyTo: "x" } as unknown as { routingKey: string }),
    ).rejects.toMatchObject({ code: "WEIR_ERR_INVALID_OPTION" });
    await expect(client.amqp.request({}, { routingKey: queue, priority: 300 })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "request.priority",
    });
    expect(await broker.count(queue)).toBe(0);
  });

  it("requests in flight when the connection drops reject with WEIR_ERR_REQUEST_LOST; the next ones work", async () => {
    // The second call is held until the drop is done (rabbitmqctl takes seconds on a loaded
    // machine); a second handler slot serves the request after it.
    let call = 0;
    let release = (): void => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { queue } = await server(
      async () => {
        if (++call === 2) await held;
        return ["ok"];
      },
      { concurrency: 2 },
    );
    try {
      const clientName = uniqueName("rpc-client");
      const client = app(clientName);
      await client.amqp.request({}, { routingKey: queue, timeout: 5_000 });
      const inFlight = client.amqp
        .request({}, { routingKey: queue, timeout: 60_000 })
        .catch((e: unknown) => e);
      await waitFor(() => call === 2, 5_000);
      expect(await dropConnections(`weir:${clientName}`)).toBeGreaterThan(0);
      expect(await inFlight).toMatchObject({ code: "WEIR_ERR_REQUEST_LOST" });
      await expect(client.amqp.request({}, { routingKey: queue, timeout: 15_000 })).resolves.toBe("ok");
    } finally {
      release();
    }
  }, 90_000);

  it("a replying route's failed request is rejected by default, not requeued: the handler runs once", async () => {
    const { queue, calls } = await server(
      () => {
        throw Object.assign(new Error("no stock"), { code: "NO_STOCK" });
      },
      { defaultOnException: true },
    );
    const error = await app()
      .amqp.request({}, { routingKey: queue, timeout: 5_000 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WEIR_ERR_REMOTE", remoteCode: "NO_STOCK", routingKey: queue });
    await sleep(300);
    expect(calls).toHaveLength(1);
    expect(await broker.count(queue)).toBe(0);
  });

  it("a request to a route without reply is handled, times out for its caller, and the route warns once", async () => {
    const queue = await broker.queue(uniqueName("forgot-reply"));
    const { logger, lines } = captureLogs("warn");
    const serving = createApp({ name: uniqueName("rpc"), logger });
    apps.push(serving);
    let handled = 0;
    serving.route([queue], { type: RouteTypes.AMQP }, async (messages) => {
      handled += messages.length;
    });
    await serving.start();
    const client = app();
    const results = await Promise.all(
      [1, 2].map(() => client.amqp.request({}, { routingKey: queue, timeout: 400 }).catch((e: unknown) => e)),
    );
    expect(results).toMatchObject([
      { code: "WEIR_ERR_REQUEST_TIMEOUT" },
      { code: "WEIR_ERR_REQUEST_TIMEOUT" },
    ]);
    expect(handled).toBe(2);
    const told = linesMatching(lines, /carries replyTo, but the route has no `reply`/);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ level: WARN, queue });
  });
});
