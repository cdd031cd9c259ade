import { setImmediate as nextTurn } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Actions } from "../../src/core/constants.js";
import { natsAcknowledger } from "../../src/transports/nats/acknowledger.js";
import { NATSMessage } from "../../src/transports/nats/message.js";
import { pullingConnection } from "../../src/transports/nats/nats-port.js";
import type { JetStreamMessage } from "../../src/transports/nats/port.js";

/** A JetStream message whose answers (`ack 1`, `nak 1`, `term 1`) go to `answer`. */
function answering(seq: number, answer: (text: string) => void): NATSMessage {
  const raw: JetStreamMessage = {
    subject: "orders.new",
    data: new Uint8Array(),
    seq,
    redelivered: false,
    info: { deliveryCount: 1, stream: "orders" },
    headers: undefined,
    ack: () => answer(`ack ${seq}`),
    nak: () => answer(`nak ${seq}`),
    term: () => answer(`term ${seq}`),
    working: () => {},
  };
  return new NATSMessage(raw, "orders", {}, pino({ level: "silent" }));
}

/** A JetStream message that writes down what it was answered (the wire is not what is tested here). */
function message(seq: number, answers: string[]): NATSMessage {
  return answering(seq, (text) => answers.push(text));
}

describe("the NATS acknowledger", () => {
  it("settles at once but answers the bulks of one turn together, at the end of the turn", async () => {
    const answers: string[] = [];
    const released: number[] = [];
    const acknowledger = natsAcknowledger((m) => released.push(m.seq));
    const first = [message(1, answers), message(2, answers)];
    const second = [message(3, answers)];
    second[0]!.decision = Actions.REJECT;
    acknowledger.settle(first, Actions.ACK);
    await Promise.resolve(); // a microtask apart, as two bulks of one socket read finish
    acknowledger.settle(second, Actions.ACK);
    expect([...first, ...second].every((m) => m.isSettled())).toBe(true);
    expect(released).toEqual([1, 2, 3]);
    expect(answers).toEqual([]);
    await nextTurn();
    expect(answers).toEqual(["ack 1", "ack 2", "term 3"]);
  });

  it("flush() sends what waits at once (the route's stop, before the connection closes), once", async () => {
    const answers: string[] = [];
    const acknowledger = natsAcknowledger(() => {});
    acknowledger.abandon([message(7, answers)]);
    acknowledger.flush();
    expect(answers).toEqual(["nak 7"]);
    await nextTurn();
    expect(answers).toEqual(["nak 7"]);
  });
});

/**
 * A connection that writes like the client: everything published within one microtask queue goes
 * out in one socket write (the client queues its flush on the first publish into an empty buffer).
 */
function batchingConnection() {
  const writes: string[][] = [];
  let buffer: string[] = [];
  const connection = {
    publish(subject: string): void {
      if (buffer.push(subject) === 1)
        queueMicrotask(() => {
          writes.push(buffer);
          buffer = [];
        });
    },
    isClosed: function (this: unknown) {
      return this === connection;
    },
  };
  return { connection: connection as unknown as NatsConnection, writes };
}

/** A JetStream message whose answers are publishes on `connection` (as the client's are). */
function wired(seq: number, connection: NatsConnection): NATSMessage {
  return answering(seq, (text) => connection.publish(text));
}

describe("a pull loop's connection", () => {
  it("sends the pull requests of a turn in the same socket write as the answers of the turn", async () => {
    const { connection, writes } = batchingConnection();
    const pulling = pullingConnection(connection);
    const acknowledger = natsAcknowledger(() => {});
    // One socket read: the client issues a pull while handing over the messages...
    pulling.connection.publish("$JS.API.CONSUMER.MSG.NEXT.orders.workers", "{}");
    // ...and the handlers of the read's bulks answer microtasks later.
    await Promise.resolve();
    acknowledger.settle([wired(1, connection), wired(2, connection)], Actions.ACK);
    await Promise.resolve();
    acknowledger.settle([wired(3, connection)], Actions.REQUEUE);
    await nextTurn();
    expect(writes).toEqual([["$JS.API.CONSUMER.MSG.NEXT.orders.workers", "ack 1", "ack 2", "nak 3"]]);
  });

  it("drops a pull still waiting when its loop closes; the rest is the connection's own", async () => {
    const { connection, writes } = batchingConnection();
    const pulling = pullingConnection(connection);
    pulling.connection.publish("$JS.API.CONSUMER.MSG.NEXT.orders.workers", "{}");
    pulling.close();
    await nextTurn();
    expect(writes).toEqual([]);
    const isClosed = pulling.connection.isClosed;
    expect(isClosed()).toBe(true); // bound to the real connection
  });
});
