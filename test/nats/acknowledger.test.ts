import { setImmediate as nextTurn } from "node:timers/promises";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Actions } from "../../src/core/constants.js";
import { natsAcknowledger } from "../../src/transports/nats/acknowledger.js";
import { NATSMessage } from "../../src/transports/nats/message.js";
import type { JetStreamMessage } from "../../src/transports/nats/port.js";

/** A JetStream message that writes down what it was answered (the wire is not what is tested here). */
function message(seq: number, answers: string[]): NATSMessage {
  const raw: JetStreamMessage = {
    subject: "orders.new",
    data: new Uint8Array(),
    seq,
    redelivered: false,
    info: { deliveryCount: 1, stream: "orders" },
    headers: undefined,
    ack: () => answers.push(`ack ${seq}`),
    nak: () => answers.push(`nak ${seq}`),
    term: () => answers.push(`term ${seq}`),
    working: () => {},
  };
  return new NATSMessage(raw, "orders", {}, pino({ level: "silent" }));
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
