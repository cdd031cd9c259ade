import * as amqp from "amqplib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AMQPMessage,
  ConstantBackoff,
  InvalidOptionError,
  PublishRejectedError,
  RouteTypes,
  WeirHeaders,
} from "../../src/index.js";
import { AMQP_URL, Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

/**
 * Kind (issue 14.4): a publish that goes nowhere. The broker drops a message no queue takes and
 * confirms it anyway, unless it is published `mandatory`; weir publishes mandatory by default and
 * rejects with a coded error for each way the broker says "not stored" (amqplib #83-style silent
 * drops; rascal's "returned" event that users must wire by hand).
 */
describe("publishes that go nowhere reject with a code (issue 14.4)", () => {
  let broker: Broker;
  let side: amqp.ChannelModel;
  let channel: amqp.Channel;
  const exchanges: string[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
    side = await amqp.connect(AMQP_URL);
    channel = await side.createChannel();
  });
  afterEach(async () => {
    for (const exchange of exchanges.splice(0)) await channel.deleteExchange(exchange).catch(() => {});
    await side.close().catch(() => {});
    await broker.close();
  });

  async function directExchange(boundKey: string, queue: string): Promise<string> {
    const exchange = uniqueName("x");
    exchanges.push(exchange);
    await channel.assertExchange(exchange, "direct", { durable: false, autoDelete: false });
    await channel.bindQueue(queue, exchange, boundKey);
    return exchange;
  }

  it("to a queue that does not exist: WEIR_ERR_PUBLISH_UNROUTABLE with the broker's reply, nothing stored", async () => {
    const app = createApp();
    const missing = uniqueName("no-such-queue");
    const error = await app.amqp.publish({ id: 1 }, { routingKey: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishRejectedError);
    expect(error).toMatchObject({
      code: "WEIR_ERR_PUBLISH_UNROUTABLE",
      replyCode: 312,
      replyText: "NO_ROUTE",
      exchange: "",
      routingKey: missing,
      sent: false,
    });
    expect((error as Error).message).toContain(missing);
    expect(await broker.exists(missing)).toBe(false);
    await app.stop();
  });

  it("to an exchange with no matching binding: rejected; the bound key still goes through", async () => {
    const queue = await broker.queue(uniqueName("bound"));
    const exchange = await directExchange("good", queue);
    const app = createApp();
    await expect(app.amqp.publish({ id: 1 }, { exchange, routingKey: "bad" })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_UNROUTABLE",
      replyCode: 312,
      exchange,
      routingKey: "bad",
    });
    await app.amqp.publish({ id: 2 }, { exchange, routingKey: "good" });
    expect(await broker.drain(queue)).toEqual([{ id: 2 }]);
    await app.stop();
  });

  it("{ mandatory: false } opts out: the broker drops it and the publish resolves", async () => {
    const app = createApp();
    await expect(
      app.amqp.publish({ id: 1 }, { routingKey: uniqueName("nowhere"), mandatory: false }),
    ).resolves.toBeUndefined();
    await app.stop();
  });

  it("to an exchange that does not exist: WEIR_ERR_PUBLISH_NO_EXCHANGE (not UNCONFIRMED), and the publisher keeps working", async () => {
    const queue = await broker.queue(uniqueName("after-404"));
    const app = createApp();
    await app.amqp.publish({ n: 0 }, { routingKey: queue }); // the channel is open and warm
    const missing = uniqueName("no-such-exchange");
    // Publishes written right after the refused one on the same channel are discarded unread by the
    // broker (the channel is closing): weir sends them again, so each is stored exactly once. The
    // one written just before it was routed, but RabbitMQ drops the confirms a channel it closes
    // still owed: it is either confirmed or WEIR_ERR_PUBLISH_UNCONFIRMED (sent, may be stored),
    // depending on whether its confirm beat the close (with TCP_NODELAY the refused publish follows
    // it within microseconds), and never sent twice.
    const results = await Promise.allSettled([
      app.amqp.publish({ n: 1 }, { routingKey: queue }),
      app.amqp.publish({ n: 2 }, { exchange: missing, routingKey: "k" }),
      app.amqp.publish({ n: 3 }, { routingKey: queue }),
      app.amqp.publish({ n: 4 }, { routingKey: queue }),
    ]);
    expect(results.slice(1).map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
    if (results[0]!.status === "rejected") {
      expect(results[0].reason).toMatchObject({ code: "WEIR_ERR_PUBLISH_UNCONFIRMED", sent: true });
    }
    const refused = (results[1] as PromiseRejectedResult).reason;
    expect(refused).toBeInstanceOf(PublishRejectedError);
    expect(refused).toMatchObject({
      code: "WEIR_ERR_PUBLISH_NO_EXCHANGE",
      replyCode: 404,
      exchange: missing,
      sent: false,
    });
    expect((refused as Error).message).toContain("nothing was stored");
    await app.amqp.publish({ n: 5 }, { routingKey: queue });
    expect((await broker.drain(queue)).map((b) => (b as { n: number }).n).sort()).toEqual([0, 1, 3, 4, 5]);
    await app.stop();
  });

  it("a return that races the channel close of the next publish still rejects as unroutable", async () => {
    const app = createApp();
    const queue = await broker.queue(uniqueName("race"));
    await app.amqp.publish({}, { routingKey: queue });
    // The broker returns the first, then closes the channel for the second: the first's confirm
    // may never come, its return decides.
    const [returned, refused] = await Promise.allSettled([
      app.amqp.publish({ n: 1 }, { routingKey: uniqueName("nowhere") }),
      app.amqp.publish({ n: 2 }, { exchange: uniqueName("no-such-exchange"), routingKey: "k" }),
    ]);
    expect(returned).toMatchObject({ status: "rejected", reason: { code: "WEIR_ERR_PUBLISH_UNROUTABLE" } });
    expect(refused).toMatchObject({ status: "rejected", reason: { code: "WEIR_ERR_PUBLISH_NO_EXCHANGE" } });
    await app.stop();
  });

  it("a window of routable and unroutable publishes: each gets its own answer", async () => {
    const queue = await broker.queue(uniqueName("mixed"));
    const app = createApp();
    const nowhere = uniqueName("nowhere");
    // The same body to both destinations: a return is matched on exchange, key and body together.
    const results = await Promise.allSettled(
      Array.from({ length: 400 }, (_, i) =>
        app.amqp.publish({ i: i >> 1 }, { routingKey: i % 2 === 0 ? queue : nowhere }),
      ),
    );
    results.forEach((result, i) => {
      if (i % 2 === 0) expect(result.status, `publish ${i}`).toBe("fulfilled");
      else expect(result, `publish ${i}`).toMatchObject({ reason: { code: "WEIR_ERR_PUBLISH_UNROUTABLE" } });
    });
    expect(await broker.count(queue)).toBe(200);
    await app.stop();
  });

  it("an unknown or invalid publish option is refused with WEIR_ERR_INVALID_OPTION naming it", async () => {
    const queue = await broker.queue(uniqueName("options"));
    const app = createApp();
    const typo = { routingKey: queue, mandatroy: false } as unknown as Parameters<typeof app.amqp.publish>[1];
    const error = await app.amqp.publish({ id: 1 }, typo).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "publish.mandatroy" });
    expect((error as Error).message).toContain('did you mean "mandatory"?');
    const notBoolean = { routingKey: queue, mandatory: "no" } as unknown as Parameters<
      typeof app.amqp.publish
    >[1];
    await expect(app.amqp.publish({ id: 2 }, notBoolean)).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "publish.mandatory",
    });
    await expect(app.amqp.publish({ id: 3 }, { routingKey: queue, timeout: -1 })).rejects.toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "publish.timeout",
    });
    expect(await broker.count(queue)).toBe(0); // refused before anything was sent
    await app.stop();
  });
});

describe("weir's own publishes are mandatory too: tasks, retries, dead letters, replays (issue 14.4)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  const fast = (delay: number) => new ConstantBackoff({ constant: delay, floor: delay, ceiling: delay });

  it("task.delay to a task whose queue does not exist rejects (at once and delayed) instead of vanishing", async () => {
    const producer = createApp();
    // A producer-only process: the task is defined, no worker ever declared its queue.
    const name = uniqueName("task-nowhere");
    const task = producer.task(name, async () => {});
    await expect(task.delay({ id: 1 })).rejects.toMatchObject({ code: "WEIR_ERR_PUBLISH_UNROUTABLE" });
    // A delayed run would wait in its delay queue, then be dropped by the broker when the delay ends.
    await expect(task.delay({ id: 2 }, { delay: 100 })).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_UNROUTABLE",
      replyCode: 404,
    });
    expect(await broker.exists(`${name}.retry.100`)).toBe(false);
    await producer.stop();
  });

  it("task.delay declares its delay queue again when the broker returns the run (the queue expired)", async () => {
    const app = createApp();
    const name = uniqueName("task-redeclare");
    broker.track(name);
    broker.track(`${name}.retry.200`);
    const ran: number[] = [];
    const task = app.task(name, async (payload: { id: number }) => {
      ran.push(payload.id);
    });
    await app.start();
    await task.delay({ id: 1 }, { delay: 200 });
    await waitFor(() => ran.length === 1, 5000, "the first delayed run");
    await broker.deleteQueue(`${name}.retry.200`); // as x-expires does to an unused delay queue
    await task.delay({ id: 2 }, { delay: 200 });
    await waitFor(() => ran.length === 2, 5000, "the delayed run after the delay queue vanished");
    expect(ran).toEqual([1, 2]);
    await app.stop();
  });

  it("a retry whose delay queue vanished is declared again and retried: the original is never lost", async () => {
    const queue = await broker.queue(uniqueName("retry-gone"));
    broker.track(`${queue}.retry.150`);
    broker.track(`${queue}.dlq`);
    const attempts: string[] = [];
    const app = createApp();
    app.route(
      [queue],
      { type: RouteTypes.AMQP, retry: { maxAttempts: 3, backoff: fast(150) } },
      async ([m]: AMQPMessage<{ id: number }>[]) => {
        attempts.push(`${m!.body.id}:${m!.attempt}`);
        if (m!.attempt === 1) throw new Error("first attempts fail");
      },
    );
    await app.start();
    await broker.publish(queue, [{ id: 1 }]);
    await waitFor(() => attempts.length === 2, 5000, "the first retry");
    // Deleted behind weir's back (its declare cache still says it exists): before issue 14.4 the
    // retry was confirmed, dropped by the broker, and the original acked: lost.
    await broker.deleteQueue(`${queue}.retry.150`);
    await broker.publish(queue, [{ id: 2 }]);
    await waitFor(() => attempts.length === 4, 5000, "the retry after the delay queue vanished");
    expect(attempts).toEqual(["1:1", "1:2", "2:1", "2:2"]);
    await sleep(100);
    await app.stop();
    expect(await broker.count(queue)).toBe(0);
  });

  it("a dead letter whose dead-letter queue was deleted is declared again and stored", async () => {
    const queue = await broker.queue(uniqueName("dlq-gone"));
    const dlq = `${queue}.dlq`;
    broker.track(dlq);
    const app = createApp();
    app.route([queue], { type: RouteTypes.AMQP, deadLetter: true }, async ([m]) => {
      m!.deadLetter("never valid");
    });
    await app.start();
    await broker.deleteQueue(dlq); // declared at start; gone now, and weir's cache does not know
    await broker.publish(queue, [{ id: 1 }]);
    await waitFor(async () => (await broker.exists(dlq)) && (await broker.count(dlq)) === 1, 5000, "the DLQ");
    await app.stop();
    const [letter] = await broker.getAll(dlq);
    expect(letter!.properties.headers?.[WeirHeaders.REASON]).toBe("dead-lettered");
  });

  it("a replay to a queue that no longer exists rejects as unroutable and keeps the dead letter", async () => {
    const queue = uniqueName("replay-gone");
    const dlq = await broker.queue(`${queue}.dlq`);
    await broker.publish(dlq, [{ id: 1 }], { headers: { [WeirHeaders.ORIGINAL_QUEUE]: queue } });
    const app = createApp();
    await expect(app.amqp.replay(queue)).rejects.toMatchObject({
      code: "WEIR_ERR_PUBLISH_UNROUTABLE",
      routingKey: queue,
    });
    expect(await broker.count(dlq)).toBe(1);
    await app.stop();
  });
});
