import { setImmediate as nextTurn } from "node:timers/promises";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Actions } from "../../src/core/constants.js";
import { natsAcknowledger } from "../../src/transports/nats/acknowledger.js";
import { NATSMessage } from "../../src/transports/nats/message.js";
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
  it("answers at once when the route has no other bulk queued", () => {
    const answers: string[] = [];
    const released: number[] = [];
    const acknowledger = natsAcknowledger((m) => released.push(m.seq));
    const bulk = [message(1, answers), message(2, answers), message(3, answers)];
    bulk[2]!.decision = Actions.REJECT;
    acknowledger.settle(bulk, Actions.ACK);
    expect(bulk.every((m) => m.isSettled())).toBe(true);
    expect(released).toEqual([1, 2, 3]);
    expect(answers).toEqual(["ack 1", "ack 2", "term 3"]);
  });

  it("holds the answers while more bulks are queued and sends them with the last one's", async () => {
    const answers: string[] = [];
    let queued = 2;
    const acknowledger = natsAcknowledger(
      () => {},
      () => queued > 0,
    );
    // Three bulks of one socket read, settled a microtask apart as the pipeline runs them.
    acknowledger.settle([message(1, answers)], Actions.ACK);
    queued--;
    await Promise.resolve();
    acknowledger.settle([message(2, answers)], Actions.REQUEUE);
    queued--;
    expect(answers).toEqual([]);
    await Promise.resolve();
    acknowledger.settle([message(3, answers)], Actions.ACK);
    expect(answers).toEqual(["ack 1", "nak 2", "ack 3"]);
    await nextTurn();
    expect(answers).toEqual(["ack 1", "nak 2", "ack 3"]); // the end-of-turn backstop sends nothing twice
  });

  it("a queued bulk that takes its time does not hold the answers past the end of the turn", async () => {
    const answers: string[] = [];
    const acknowledger = natsAcknowledger(
      () => {},
      () => true,
    );
    acknowledger.settle([message(1, answers), message(2, answers)], Actions.ACK);
    expect(answers).toEqual([]);
    await nextTurn();
    expect(answers).toEqual(["ack 1", "ack 2"]);
  });

  it("flush() sends what waits at once (the route's stop, before the connection closes), once", async () => {
    const answers: string[] = [];
    const acknowledger = natsAcknowledger(
      () => {},
      () => true,
    );
    acknowledger.abandon([message(7, answers)]);
    acknowledger.flush();
    expect(answers).toEqual(["nak 7"]);
    await nextTurn();
    expect(answers).toEqual(["nak 7"]);
  });
});
