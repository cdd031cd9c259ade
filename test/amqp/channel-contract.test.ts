import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AMQPChannel,
  type AMQPConnection,
  type ConsumeMessage,
  type GetMessage,
  isClosedChannelError,
} from "../../src/transports/amqp/port.js";
import { sleep, uniqueName, waitFor } from "../helpers/amqp.js";
import { type BackendName, openBackend, type PortBackend } from "../helpers/backends.js";
import { differs } from "../helpers/broker-differences.js";

/**
 * The channel-level contract of the AMQP port (src/transports/amqp/port.ts), run against RabbitMQ
 * through the amqplib adapter and against weir/testing's in-memory broker (issue #16). A case the
 * in-memory broker deliberately does not pass is listed in test/helpers/broker-differences.ts and
 * shows up here as a skip with its reason.
 */

const BACKENDS: readonly BackendName[] = ["rabbitmq", "memory"];

/** Bounded waits: every case ends within a few seconds on either backend. */
const WAIT_MS = 5_000;

function body(message: ConsumeMessage | GetMessage | null): string {
  return message === null ? "<cancel>" : message.content.toString();
}

describe.each(BACKENDS)("the AMQP port's channel contract on %s", (backendName) => {
  let backend: PortBackend;
  let connection: AMQPConnection;
  const queues: string[] = [];

  /** `it`, skipped on a backend that deliberately differs, with the reason in the name. */
  function contract(name: string, run: () => Promise<void>): void {
    const reason = differs(backendName, name);
    it.skipIf(reason !== undefined)(reason === undefined ? name : `${name} [differs: ${reason}]`, run);
  }

  async function channel(): Promise<AMQPChannel> {
    const opened = await connection.createChannel();
    opened.on("error", () => {});
    return opened;
  }

  async function queue(prefix: string, args: Record<string, unknown> = {}): Promise<string> {
    const name = uniqueName(`contract.${prefix}`);
    queues.push(name);
    const setup = await channel();
    // A quorum queue is durable by nature (RabbitMQ refuses a non-durable one).
    await setup.assertQueue(name, { durable: args["x-queue-type"] === "quorum", arguments: args });
    await setup.close();
    return name;
  }

  async function publish(target: string, bodies: readonly string[]): Promise<void> {
    const confirms = await connection.createConfirmChannel();
    confirms.on("error", () => {});
    for (const each of bodies) confirms.sendToQueue(target, Buffer.from(each));
    await confirms.waitForConfirms();
    await confirms.close();
  }

  async function consumeInto(
    on: AMQPChannel,
    from: string,
    sink: Array<ConsumeMessage | null>,
  ): Promise<void> {
    await on.consume(from, (message) => sink.push(message));
  }

  /** Takes the next message off `from` with basic.get, polling until one is there. */
  async function getNext(from: string): Promise<GetMessage> {
    const reader = await channel();
    let got: GetMessage | false = false;
    await waitFor(
      async () => {
        got = await reader.get(from, { noAck: true });
        return got !== false;
      },
      WAIT_MS,
      `a message on ${from}`,
    );
    await reader.close();
    return got as unknown as GetMessage;
  }

  beforeEach(async () => {
    backend = openBackend(backendName);
    connection = await backend.connect();
  });

  afterEach(async () => {
    const cleanup = await channel();
    for (const name of queues.splice(0)) await cleanup.deleteQueue(name).catch(() => {});
    await cleanup.close().catch(() => {});
    await backend.close();
  });

  contract("delivery tags count from 1 on each channel, consumes and gets alike", async () => {
    const first = await queue("tags-a");
    const second = await queue("tags-b");
    await publish(first, ["a1", "a2", "a3"]);
    await publish(second, ["b1", "b2", "b3"]);
    const one = await channel();
    const two = await channel();
    const sinkOne: Array<ConsumeMessage | null> = [];
    const sinkTwo: Array<ConsumeMessage | null> = [];
    await one.prefetch(10);
    await consumeInto(one, first, sinkOne);
    await two.prefetch(2);
    await consumeInto(two, second, sinkTwo);
    await waitFor(() => sinkOne.length === 3 && sinkTwo.length === 2, WAIT_MS, "five deliveries");
    expect(sinkOne.map((message) => message?.fields.deliveryTag)).toEqual([1, 2, 3]);
    expect(sinkTwo.map((message) => message?.fields.deliveryTag)).toEqual([1, 2]);
    // A basic.get on the same channel takes the next tag of that channel.
    const got = await two.get(second, { noAck: false });
    expect(got === false ? undefined : got.fields.deliveryTag).toBe(3);
    expect(body(got === false ? null : got)).toBe("b3");
  });

  contract("ack(multiple) settles every delivery up to its tag, and only those", async () => {
    const source = await queue("multiple");
    await publish(source, ["m0", "m1", "m2", "m3", "m4"]);
    const consumer = await channel();
    const sink: Array<ConsumeMessage | null> = [];
    await consumer.prefetch(10);
    await consumeInto(consumer, source, sink);
    await waitFor(() => sink.length === 5, WAIT_MS, "five deliveries");
    consumer.ack(sink[2]!, true);
    // Closing the channel requeues what it still holds: the two it did not ack.
    await consumer.close();
    const counter = await channel();
    await waitFor(
      async () => (await counter.checkQueue(source)).messageCount === 2,
      WAIT_MS,
      "two messages back on the queue",
    );
    const left = [body(await getNext(source)), body(await getNext(source))];
    expect(left).toEqual(["m3", "m4"]);
  });

  contract(
    "a quorum queue counts redeliveries in x-delivery-count (absent the first time), a classic one does not (issue #18)",
    async () => {
      const quorum = await queue("delivery-count", { "x-queue-type": "quorum" });
      const classic = await queue("no-delivery-count");
      await publish(quorum, ["q"]);
      await publish(classic, ["c"]);
      const consumer = await channel();
      const sink: Array<ConsumeMessage | null> = [];
      await consumer.prefetch(1, false);
      await consumeInto(consumer, quorum, sink);
      await consumeInto(consumer, classic, sink);
      const counts: Record<string, unknown[]> = { q: [], c: [] };
      for (let round = 0; round < 3; round++) {
        await waitFor(() => sink.length === 2 * (round + 1), WAIT_MS, `round ${round}`);
        for (const message of sink.slice(2 * round)) {
          counts[body(message)]!.push(message!.properties.headers?.["x-delivery-count"]);
          consumer.reject(message!, round < 2);
        }
      }
      expect(counts).toEqual({ q: [undefined, 1, 2], c: [undefined, undefined, undefined] });
    },
  );

  contract(
    "a quorum queue declared non-durable, exclusive or auto-delete is refused with 406 (issue #18)",
    async () => {
      const refusals: string[] = [];
      for (const flags of [
        { durable: false },
        { durable: true, exclusive: true },
        { durable: true, autoDelete: true },
      ]) {
        const name = uniqueName("contract.quorum-flags");
        queues.push(name);
        const declaring = await channel();
        const error = await declaring
          .assertQueue(name, { ...flags, arguments: { "x-queue-type": "quorum" } })
          .then(
            () => undefined,
            (caught: unknown) => caught as { code?: unknown; message: string },
          );
        expect(error?.code).toBe(406);
        refusals.push(/invalid property '([^']+)'/.exec(error?.message ?? "")?.[1] ?? error?.message ?? "");
      }
      expect(refusals).toEqual(["non-durable", "exclusive-owner", "auto-delete"]);
    },
  );

  contract("requeued deliveries come back in their queue order, flagged redelivered", async () => {
    const source = await queue("requeue");
    await publish(source, ["r0", "r1", "r2"]);
    const consumer = await channel();
    const sink: Array<ConsumeMessage | null> = [];
    await consumer.prefetch(3);
    await consumeInto(consumer, source, sink);
    await waitFor(() => sink.length === 3, WAIT_MS, "three deliveries");
    for (const message of sink.slice(0, 3)) consumer.reject(message!, true);
    await waitFor(() => sink.length === 6, WAIT_MS, "three redeliveries");
    expect(sink.slice(0, 3).map((message) => message?.fields.redelivered)).toEqual([false, false, false]);
    expect(sink.slice(3).map(body)).toEqual(["r0", "r1", "r2"]);
    expect(sink.slice(3).map((message) => message?.fields.redelivered)).toEqual([true, true, true]);
    // New tags on the same channel: a redelivery is a new delivery.
    expect(sink.slice(3).map((message) => message?.fields.deliveryTag)).toEqual([4, 5, 6]);
  });

  contract("a reject without requeue dead-letters with x-death reason rejected", async () => {
    const parked = await queue("rejected.dlq");
    const source = await queue("rejected", {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": parked,
    });
    await publish(source, ["doomed"]);
    const consumer = await channel();
    let got: GetMessage | false = false;
    await waitFor(
      async () => {
        got = await consumer.get(source, { noAck: false });
        return got !== false;
      },
      WAIT_MS,
      "the message",
    );
    consumer.reject(got as unknown as GetMessage, false);
    const dead = await getNext(parked);
    expect(body(dead)).toBe("doomed");
    const headers = dead.properties.headers ?? {};
    const death = headers["x-death"]?.[0];
    expect(death).toMatchObject({
      reason: "rejected",
      queue: source,
      exchange: "",
      "routing-keys": [source],
    });
    expect(Number(death!.count)).toBe(1);
    expect(headers["x-first-death-reason"]).toBe("rejected");
    expect(headers["x-first-death-queue"]).toBe(source);
  });

  contract("a message past its queue's TTL dead-letters with x-death reason expired", async () => {
    const parked = await queue("expired.dlq");
    const source = await queue("expired", {
      "x-message-ttl": 50,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": parked,
    });
    await publish(source, ["stale"]);
    const dead = await getNext(parked);
    expect(body(dead)).toBe("stale");
    const headers = dead.properties.headers ?? {};
    const death = headers["x-death"]?.[0];
    expect(death).toMatchObject({ reason: "expired", queue: source, "routing-keys": [source] });
    expect(Number(death!.count)).toBe(1);
    expect(headers["x-first-death-reason"]).toBe("expired");
  });

  contract("a passive declare of a missing queue fails with 404 and closes the channel", async () => {
    const existing = await queue("present");
    const checker = await channel();
    const events: string[] = [];
    checker.on("error", () => events.push("error"));
    const closed = new Promise<void>((resolve) => checker.on("close", () => resolve()));
    checker.on("close", () => events.push("close"));
    const error = await checker.checkQueue(uniqueName("contract.missing")).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ code: 404 });
    expect(isClosedChannelError(error)).toBe(true);
    await closed;
    expect(events).toEqual(["error", "close"]);
    // The channel takes no more operations, and says so in a way the port recognises.
    const after = await checker.checkQueue(existing).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isClosedChannelError(after)).toBe(true);
    // The connection is fine: another channel sees the queue.
    expect((await (await channel()).checkQueue(existing)).queue).toBe(existing);
  });

  contract("a redeclare with other arguments fails with 406 and closes the channel", async () => {
    const existing = await queue("redeclare", { "x-message-ttl": 60_000 });
    const declarer = await channel();
    const closed = new Promise<void>((resolve) => declarer.on("close", () => resolve()));
    const error = await declarer
      .assertQueue(existing, { durable: false, arguments: { "x-message-ttl": 30_000 } })
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(error).toMatchObject({ code: 406 });
    expect(String((error as Error).message)).toContain("x-message-ttl");
    expect(isClosedChannelError(error)).toBe(true);
    await closed;
    expect(() => declarer.sendToQueue(existing, Buffer.from("late"))).toThrow();
  });

  contract("publisher confirms come back in publish order", async () => {
    const target = await queue("confirms");
    const confirms = await connection.createConfirmChannel();
    confirms.on("error", () => {});
    const order: number[] = [];
    const failures: unknown[] = [];
    for (let i = 0; i < 50; i++) {
      confirms.sendToQueue(target, Buffer.from(`c${i}`), {}, (error) => {
        if (error) failures.push(error);
        order.push(i);
      });
    }
    await confirms.waitForConfirms();
    expect(failures).toEqual([]);
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect((await confirms.checkQueue(target)).messageCount).toBe(50);
    await confirms.close();
  });

  contract("a mandatory publish no queue takes comes back (basic.return) before its confirm", async () => {
    const target = await queue("returned");
    const confirms = await connection.createConfirmChannel();
    confirms.on("error", () => {});
    const events: string[] = [];
    confirms.on("return", (message) => {
      const fields = message.fields as typeof message.fields & { replyCode: number; replyText: string };
      events.push(`return ${fields.replyCode} ${fields.replyText} ${fields.routingKey} ${message.content}`);
    });
    const nowhere = uniqueName("contract.nowhere");
    confirms.publish("", nowhere, Buffer.from("r0"), { mandatory: true }, (error) =>
      events.push(error ? "nack r0" : "ack r0"),
    );
    confirms.publish("", target, Buffer.from("r1"), { mandatory: true }, (error) =>
      events.push(error ? "nack r1" : "ack r1"),
    );
    await confirms.waitForConfirms();
    expect(events).toEqual([`return 312 NO_ROUTE ${nowhere} r0`, "ack r0", "ack r1"]);
    await confirms.close();
  });

  contract(
    "a publish to a missing exchange closes the channel (404 on basic.publish) and discards what follows",
    async () => {
      const target = await queue("after-404");
      const confirms = await connection.createConfirmChannel();
      const errors: Error[] = [];
      confirms.on("error", (error) => errors.push(error));
      const closed = new Promise<void>((resolve) => confirms.once("close", () => resolve()));
      const missing = uniqueName("contract.no-exchange");
      const outcomes: string[] = [];
      const send = (exchange: string, text: string) =>
        confirms.publish(exchange, exchange === "" ? target : "k", Buffer.from(text), {}, (error) =>
          outcomes.push(`${text} ${error ? "failed" : "ack"}`),
        );
      send("", "p0");
      await confirms.waitForConfirms();
      send(missing, "p1");
      send("", "p2");
      await closed;
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 404, classId: 60, methodId: 40 });
      expect(errors[0]!.message).toContain(`no exchange '${missing}'`);
      expect(outcomes).toEqual(["p0 ack", "p1 failed", "p2 failed"]);
      // p2 was written after the publish the broker closed the channel for: discarded, not stored.
      expect(body(await getNext(target))).toBe("p0");
      const counter = await channel();
      expect((await counter.checkQueue(target)).messageCount).toBe(0);
    },
  );

  contract("deleting a queue cancels its consumers: the callback gets null", async () => {
    const doomed = await queue("deleted");
    const consumer = await channel();
    const sink: Array<ConsumeMessage | null> = [];
    await consumeInto(consumer, doomed, sink);
    const deleter = await channel();
    await deleter.deleteQueue(doomed);
    await waitFor(() => sink.includes(null), WAIT_MS, "the broker's basic.cancel");
    expect(sink).toEqual([null]);
    // The channel itself stays open: a cancel is not a channel error.
    expect((await consumer.assertQueue(doomed, { durable: false })).queue).toBe(doomed);
  });

  contract("x-max-length drops the oldest ready message when the queue is full", async () => {
    const capped = await queue("max-length", { "x-max-length": 2 });
    await publish(capped, ["l0", "l1", "l2"]);
    const counter = await channel();
    expect((await counter.checkQueue(capped)).messageCount).toBe(2);
    expect([body(await getNext(capped)), body(await getNext(capped))]).toEqual(["l1", "l2"]);
  });

  contract("x-expires deletes a queue left unused that long", async () => {
    const leased = await queue("expires", { "x-expires": 200 });
    // Not polled: a passive declare counts as a use and would renew the lease.
    await sleep(1_000);
    const probe = await channel();
    const error = await probe.checkQueue(leased).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ code: 404 });
  });
});

describe("isClosedChannelError", () => {
  it("is false for errors that do not close a channel", () => {
    expect(isClosedChannelError(new Error("Channel closed"))).toBe(false);
    expect(isClosedChannelError(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(false);
    expect(isClosedChannelError("Channel closed")).toBe(false);
    expect(isClosedChannelError(undefined)).toBe(false);
  });
});
