import type { Channel, ConsumeMessage, Options } from "amqplib";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { DeliveryPolicy } from "../../src/core/consume/policy.js";
import { noInstrumentation } from "../../src/core/instrumentation.js";
import {
  ConstantBackoff,
  DelayQueueDeclareError,
  InvalidOptionError,
  RouteTypes,
  WeirHeaders,
} from "../../src/index.js";
import { amqpAcknowledger } from "../../src/transports/amqp/acknowledger.js";
import { ChannelSession } from "../../src/transports/amqp/channel-session.js";
import { describeAMQPRoute } from "../../src/transports/amqp/describe.js";
import { AMQPMessage } from "../../src/transports/amqp/message.js";
import { deliveryLimitProblems } from "../../src/transports/amqp/retry/delivery-limit.js";
import { Forwarder } from "../../src/transports/amqp/retry/forwarder.js";
import {
  attemptsOf,
  deadLetterHeaders,
  describeError,
  failureHeaders,
  replayHeaders,
  republishProperties,
} from "../../src/transports/amqp/retry/headers.js";
import {
  Declarer,
  delayQueueExpires,
  delayQueueName,
  delayQueueOptions,
  MAX_DELAY_MS,
  quantizeDelay,
  renewAfter,
} from "../../src/transports/amqp/retry/topology.js";
import { normalizeAMQPRoute } from "../../src/transports/amqp/route-spec.js";

const silent = pino({ level: "silent" });

function route(spec: Record<string, unknown>) {
  return normalizeAMQPRoute(
    { routes: ["q"], spec: { type: RouteTypes.AMQP, ...spec }, handler: async () => {} },
    { prefetch: 128, vhost: "/", consumerTimeout: 1_800_000 },
    silent,
  );
}

/** A controllable confirm: the test decides when (and whether) the broker confirms each publish. */
function publisher() {
  const sent: {
    routingKey: string;
    properties: Options.Publish;
    confirm: () => void;
    fail: (error?: Error) => void;
  }[] = [];
  const publish = (_exchange: string, routingKey: string, _content: Buffer, properties: Options.Publish) =>
    new Promise<void>((resolve, reject) => {
      sent.push({
        routingKey,
        properties,
        confirm: resolve,
        fail: (error) => reject(error ?? new Error("nack")),
      });
    });
  return { sent, publish };
}

function setup(spec: Record<string, unknown>) {
  const frames: string[] = [];
  const channel = {
    ack: (m: ConsumeMessage, multiple?: boolean) =>
      frames.push(`ack ${m.fields.deliveryTag}${multiple ? " multiple" : ""}`),
    reject: (m: ConsumeMessage, requeue?: boolean) =>
      frames.push(`reject ${m.fields.deliveryTag} requeue=${requeue}`),
  } as unknown as Channel;
  // Acks written when each bulk or message is settled (`ackWindow: false`): the frames read in order.
  const session = new ChannelSession(channel, silent, undefined, false);
  const deliver = (tag: number, headers: Record<string, unknown> = {}) => {
    session.received(tag, Date.now(), 0);
    const delivery = {
      fields: { deliveryTag: tag, exchange: "", routingKey: "q", redelivered: false },
      properties: { headers, contentType: "application/json" },
      content: Buffer.from(String(tag)),
    } as unknown as ConsumeMessage;
    return new AMQPMessage(delivery, "q", tag, session);
  };
  const { sent, publish } = publisher();
  const forgotten: string[] = [];
  const declarer = {
    ensure: async () => {},
    forget: (queue: string) => forgotten.push(queue),
  } as unknown as Declarer;
  const routed = route(spec);
  const forwarding = new Forwarder(routed, publish, declarer, silent);
  const policy = new DeliveryPolicy<AMQPMessage>(
    { ...routed, route: routed.name, transport: "amqp", forwarding },
    amqpAcknowledger,
    noInstrumentation,
    silent,
  );
  return { frames, deliver, sent, policy, declarer: { forgotten } };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe("the acknowledger with pending republishes (confirm before ack)", () => {
  it("keeps a retried message outstanding until its confirm: no multiple ack covers it", async () => {
    const { frames, deliver, sent, policy } = setup({
      retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 1000, floor: 1000 }) },
    });
    const first = [1, 2, 3].map((tag) => deliver(tag));
    const done = policy.process(first, async (ready) => {
      ready[0]!.retry();
      return { failed: false, error: undefined };
    });
    await flush();
    // 2 and 3 are acked one by one: a multiple ack of 3 would also ack 1, whose copy is unconfirmed.
    expect(frames).toEqual(["ack 2", "ack 3"]);
    expect(sent.map((s) => s.routingKey)).toEqual(["q.retry.1000"]);
    expect(sent[0]!.properties.headers?.[WeirHeaders.ATTEMPTS]).toBe(1);
    // A later bulk of the oldest *acked-looking* messages still may not multiple-ack past tag 1.
    const second = [4, 5].map((tag) => deliver(tag));
    await policy.process(second, async () => ({ failed: false, error: undefined }));
    expect(frames).toEqual(["ack 2", "ack 3", "ack 4", "ack 5"]);
    sent[0]!.confirm();
    await done;
    expect(frames).toEqual(["ack 2", "ack 3", "ack 4", "ack 5", "ack 1"]);
  });

  it("requeues the original when the republish fails: never lost", async () => {
    const { frames, deliver, sent, policy } = setup({ retry: { maxAttempts: 3 } });
    const done = policy.process([deliver(1)], async () => ({ failed: true, error: new Error("boom") }));
    await flush();
    expect(frames).toEqual([]);
    sent[0]!.fail();
    await done;
    expect(frames).toEqual(["reject 1 requeue=true"]);
  });

  it("an unroutable republish (issue 14.4): declared again and sent once more, then requeued, never acked", async () => {
    const { frames, deliver, sent, policy, declarer } = setup({ retry: { maxAttempts: 3 } });
    const unroutable = () => Object.assign(new Error("returned"), { code: "WEIR_ERR_PUBLISH_UNROUTABLE" });
    const done = policy.process([deliver(1)], async () => ({ failed: true, error: new Error("boom") }));
    await flush();
    sent[0]!.fail(unroutable());
    await flush();
    // The delay queue is gone: forgotten, declared again, and the copy sent a second time.
    expect(declarer.forgotten).toEqual(["q.retry.60000"]);
    expect(sent.map((s) => s.routingKey)).toEqual(["q.retry.60000", "q.retry.60000"]);
    expect(frames).toEqual([]);
    sent[1]!.fail(unroutable());
    await done;
    expect(frames).toEqual(["reject 1 requeue=true"]);

    const again = setup({ retry: { maxAttempts: 3 } });
    const second = again.policy.process([again.deliver(1)], async () => ({
      failed: true,
      error: new Error("x"),
    }));
    await flush();
    again.sent[0]!.fail(unroutable());
    await flush();
    again.sent[1]!.confirm();
    await second;
    expect(again.frames).toEqual(["ack 1"]);
  });

  it("sends the last attempt to the DLQ, and dead letters to nowhere are rejected without requeue", async () => {
    const withDlq = setup({ retry: { maxAttempts: 2 } });
    const done = withDlq.policy.process([withDlq.deliver(1, { [WeirHeaders.ATTEMPTS]: 1 })], async () => ({
      failed: true,
      error: new Error("again"),
    }));
    await flush();
    expect(withDlq.sent.map((s) => s.routingKey)).toEqual(["q.dlq"]);
    expect(withDlq.sent[0]!.properties.headers?.[WeirHeaders.ATTEMPTS]).toBe(2);
    withDlq.sent[0]!.confirm();
    await done;
    expect(withDlq.frames).toEqual(["ack 1"]);

    const without = setup({ retry: { maxAttempts: 2 }, deadLetter: false });
    await without.policy.process([without.deliver(1, { [WeirHeaders.ATTEMPTS]: 1 })], async () => ({
      failed: true,
      error: new Error("again"),
    }));
    expect(without.sent).toEqual([]);
    expect(without.frames).toEqual(["reject 1 requeue=false"]);
  });

  it("m.retry() on a route without retry throws WEIR_ERR_RETRY_NOT_CONFIGURED; deadLetter() rejects", async () => {
    const { deliver, policy, frames } = setup({ once: { ttl: 1000 } });
    let code: unknown;
    await policy.process([deliver(1), deliver(2)], async ([a, b]) => {
      try {
        a!.retry();
      } catch (error) {
        code = (error as { code?: unknown }).code;
      }
      b!.deadLetter("no dlq here");
      return { failed: false, error: undefined };
    });
    expect(code).toBe("WEIR_ERR_RETRY_NOT_CONFIGURED");
    // The reject is written at once, the bulk's ack at its end.
    expect(frames).toEqual(["reject 2 requeue=false", "ack 1"]);
  });
});

describe("delay topology", () => {
  it("rounds delays to two significant digits, caps them, and keeps x-expires well above the TTL", () => {
    expect([0, 7, 99, 150, 1234, 45_678, 3_600_000].map(quantizeDelay)).toEqual([
      0, 7, 99, 150, 1200, 46_000, 3_600_000,
    ]);
    expect(quantizeDelay(Number.POSITIVE_INFINITY)).toBeLessThanOrEqual(MAX_DELAY_MS);
    expect(quantizeDelay(Number.POSITIVE_INFINITY)).toBeGreaterThan(MAX_DELAY_MS * 0.95);
    expect(quantizeDelay(-5)).toBe(0);
    for (const delay of [0, 100, 60_000, 3_600_000, MAX_DELAY_MS]) {
      const expires = delayQueueExpires(delay);
      expect(expires).toBeGreaterThanOrEqual(60_000);
      expect(expires).toBeLessThan(2 ** 31);
      // A publish right before the renewal deadline still has >= 30 s of lease when it expires back.
      expect(expires - renewAfter(delay) - delay).toBeGreaterThanOrEqual(30_000);
    }
  });

  it("declares once per channel incarnation and again when the lease needs renewing", async () => {
    let declares = 0;
    let onClose: (() => void) | undefined;
    const channel = {
      on: (event: string, fn: () => void) => {
        if (event === "close") onClose = fn;
      },
      assertQueue: async () => {
        declares++;
      },
      close: async () => {},
    };
    const connection = { connect: async () => ({ createChannel: async () => channel }) };
    const declarer = new Declarer(connection as never, silent, 1000);
    await Promise.all([declarer.ensure("d", {}, 60_000), declarer.ensure("d", {}, 60_000)]);
    expect(declares).toBe(1);
    await declarer.ensure("d", {}, 60_000);
    expect(declares).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await declarer.ensure("d", {}, 10); // the last declare is older than the allowed age
    expect(declares).toBe(2);
    onClose?.(); // a new channel (a reconnect) forgets what was declared
    await declarer.ensure("d", {}, 60_000);
    expect(declares).toBe(3);
    await declarer.close();
  });

  it("a delay queue refused with 406: WEIR_ERR_DELAY_QUEUE_DECLARE with both argument sets, not asked again for 5 s; a DLQ is used as it is (issue #18)", async () => {
    let declares = 0;
    const reason =
      "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'd' in vhost '/': received the value 'quorum' of type 'longstr' but current is none";
    const channel = {
      on: () => {},
      assertQueue: async () => {
        declares++;
        throw Object.assign(
          new Error(`Channel closed by server: 406 (PRECONDITION-FAILED) with message "${reason}"`),
          {
            code: 406,
          },
        );
      },
      close: async () => {},
    };
    const connection = { connect: async () => ({ createChannel: async () => channel }) };
    const declarer = new Declarer(connection as never, silent, 1000);
    const args = { "x-queue-type": "quorum", "x-message-ttl": 1000 };
    const refused = declarer.ensure("d", { arguments: args }, 60_000);
    await expect(refused).rejects.toBeInstanceOf(DelayQueueDeclareError);
    await expect(refused).rejects.toMatchObject({
      code: "WEIR_ERR_DELAY_QUEUE_DECLARE",
      queue: "d",
      declared: args,
      existing: { "x-queue-type": "none" },
    });
    await expect(refused).rejects.toThrow(
      /weir declares \{"x-queue-type":"quorum","x-message-ttl":1000\}; existing: \{"x-queue-type":"none"\}/,
    );
    await expect(declarer.ensure("d", { arguments: args }, 60_000)).rejects.toBeInstanceOf(
      DelayQueueDeclareError,
    );
    expect(declares).toBe(1); // the refusal is remembered: no second 406 closing the channel
    await expect(declarer.ensure("d.dlq", { arguments: args }, 0, true)).resolves.toBeUndefined();
    await declarer.close();
  });
});

describe("retry headers", () => {
  it("reads the attempt count defensively and records failures", () => {
    expect(attemptsOf(undefined)).toBe(0);
    expect(attemptsOf({ [WeirHeaders.ATTEMPTS]: "2" })).toBe(2);
    expect(attemptsOf({ [WeirHeaders.ATTEMPTS]: -1 })).toBe(0);
    expect(attemptsOf({ [WeirHeaders.ATTEMPTS]: "x" })).toBe(0);
    const first = failureHeaders({ a: 1, "x-death": [{}] }, 1, new RangeError("r"), new Date(1000));
    expect(first).toMatchObject({ a: 1, [WeirHeaders.ATTEMPTS]: 1, [WeirHeaders.ERROR_CODE]: "RangeError" });
    expect(first["x-death"]).toBeUndefined();
    const second = failureHeaders(first, 2, "plain string", new Date(5000));
    expect(second[WeirHeaders.FIRST_FAILURE]).toBe(new Date(1000).toISOString());
    expect(second[WeirHeaders.LAST_FAILURE]).toBe(new Date(5000).toISOString());
    expect(second[WeirHeaders.ERROR_CODE]).toBe("non-error");
    expect(describeError(new Error("x".repeat(5000))).message.length).toBe(1024);
    const dead = deadLetterHeaders(second, {
      attempts: 2,
      error: new Error("e"),
      reason: "schema",
      queue: "q",
      issues: [{ path: "a", message: "m" }],
      now: new Date(),
    });
    expect(dead[WeirHeaders.ISSUES]).toBe('[{"path":"a","message":"m"}]');
    const replayed = replayHeaders(dead);
    expect(replayed).toEqual({ a: 1, [WeirHeaders.REPLAYS]: 1 });
    expect(replayHeaders(replayed)[WeirHeaders.REPLAYS]).toBe(2);
  });

  it("republishes a delivery's properties except expiration and user-id", () => {
    const properties = republishProperties(
      {
        contentType: "application/json",
        messageId: "m",
        correlationId: "c",
        deliveryMode: 2,
        expiration: "100",
        userId: "guest",
        headers: {},
      } as never,
      { h: 1 },
    );
    expect(properties).toEqual({
      contentType: "application/json",
      messageId: "m",
      correlationId: "c",
      deliveryMode: 2,
      headers: { h: 1 },
    });
  });
});

describe("registration of retry, deadLetter, once and schema", () => {
  it.each([
    [{ retry: { maxAttempts: 3 }, options: { onException: "reject" } }, "options.onException"],
    [{ retry: { maxAttempts: 0 } }, "retry.maxAttempts"],
    [{ retry: { backoff: { wait: 1 } } }, "retry.backoff"],
    [{ retry: { maxAtempts: 3 } }, "retry.maxAtempts"],
    [{ retry: 5 }, "retry"],
    [{ deadLetter: "yes" }, "deadLetter"],
    [{ deadLetter: { queue: "" } }, "deadLetter.queue"],
    [{ retry: { queueType: "stream" } }, "retry.queueType"],
    [{ deadLetter: { queueType: "Quorum" } }, "deadLetter.queueType"],
    [{ once: {} }, "once.ttl"],
    [{ once: { ttl: -1 } }, "once.ttl"],
    [{ once: { ttl: 10, store: {} } }, "once.store"],
    [{ once: { ttl: 10, key: "id" } }, "once.key"],
    [{ schema: { parse: () => 1 } }, "schema"],
  ])("%j throws WEIR_ERR_INVALID_OPTION naming %s", (spec, option) => {
    let error: unknown;
    try {
      route(spec);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
  });

  it("a route with none of them has no policy (the plain, cheaper path)", () => {
    const needed = (r: ReturnType<typeof route>) => DeliveryPolicy.needed({ ...r, forwarding: r.deadLetter });
    expect(needed(route({}))).toBe(false);
    expect(needed(route({ deadLetter: true }))).toBe(true);
    expect(
      needed(route({ schema: { "~standard": { version: 1, vendor: "x", validate: () => ({ value: 1 }) } } })),
    ).toBe(true);
    expect(route({ retry: {} }).deadLetter).toEqual({ queue: undefined, queueType: "classic" });
    expect(route({ retry: {}, deadLetter: false }).deadLetter).toBeUndefined();
    expect(route({ retry: {} }).retry?.maxAttempts).toBe(5);
  });

  it("x-delivery-limit beside retries: the problems weir warns about at registration (issue #18)", () => {
    const quorum = (args: Record<string, unknown>, rest: Record<string, unknown> = {}) =>
      deliveryLimitProblems(
        route({ declare: { arguments: { "x-queue-type": "quorum", ...args } }, ...rest }),
      );
    const dlx = { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "q.dlq" };
    expect(quorum({ "x-delivery-limit": 5, ...dlx }, { retry: { maxAttempts: 5 } })).toEqual([]);
    expect(quorum({}, { retry: { maxAttempts: 5 } })).toEqual([]); // no limit: weir's count alone
    expect(quorum({ "x-delivery-limit": 2 })).toEqual([]); // no retries, no DLQ: the user's choice
    expect(
      quorum({ "x-delivery-limit": 4, ...dlx }, { retry: { maxAttempts: 5 } }).map((p) => p.problem),
    ).toEqual(["below-max-attempts"]);
    const both = quorum({ "x-delivery-limit": 2 }, { retry: { maxAttempts: 5 } });
    expect(both.map((p) => [p.code, p.queue, p.problem])).toEqual([
      ["WEIR_ERR_DELIVERY_LIMIT", "q", "no-dead-letter-exchange"],
      ["WEIR_ERR_DELIVERY_LIMIT", "q", "below-max-attempts"],
    ]);
    expect(quorum({ "x-delivery-limit": 2 }, { deadLetter: { queue: "parked" } })[0]?.message).toContain(
      '"x-dead-letter-routing-key": "parked"',
    );
    // A classic queue, or one the route does not declare: weir cannot see a limit.
    expect(
      deliveryLimitProblems(route({ declare: { arguments: { "x-delivery-limit": 2 } }, retry: {} })),
    ).toEqual([]);
    expect(deliveryLimitProblems(route({ retry: {} }))).toEqual([]);
  });

  it("delay and dead-letter queues default to the type the route declares its queues with (issue #18)", () => {
    const quorum = { declare: { arguments: { "x-queue-type": "quorum" } }, retry: {} };
    expect(route(quorum).retry?.queueType).toBe("quorum");
    expect(route(quorum).deadLetter).toEqual({ queue: undefined, queueType: "quorum" });
    expect(route({ ...quorum, retry: { queueType: "classic" } }).retry?.queueType).toBe("classic");
    expect(route({ ...quorum, deadLetter: { queueType: "classic" } }).deadLetter?.queueType).toBe("classic");
    expect(route({ declare: true, retry: {} }).retry?.queueType).toBe("classic");
    expect(route({ retry: { queueType: "quorum" } }).retry?.queueType).toBe("quorum");
    expect(describeAMQPRoute(route(quorum), undefined).details).toMatchObject({
      retryQueueType: "quorum",
      deadLetterQueueType: "quorum",
    });
    expect(describeAMQPRoute(route({ retry: {} }), undefined).details).toMatchObject({
      retryQueueType: undefined,
      deadLetterQueueType: undefined,
    });
    expect(delayQueueName("q", 1000, "quorum")).toBe("q.retry.1000.quorum");
    expect(delayQueueOptions("q", 1000, "quorum").arguments).toEqual({
      "x-message-ttl": 1000,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": "q",
      "x-expires": 62_000,
      "x-queue-type": "quorum",
      "x-dead-letter-strategy": "at-least-once",
      "x-overflow": "reject-publish",
    });
  });
});
