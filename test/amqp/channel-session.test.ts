import type { Channel, ConsumeMessage } from "amqplib";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { type AckWindow, ChannelSession } from "../../src/transports/amqp/channel-session.js";
import { AMQPMessage } from "../../src/transports/amqp/message.js";

/** Pure-logic unit test of the acknowledger: records the frames it would send. */
function setup(ackWindow: AckWindow = false) {
  const frames: string[] = [];
  const channel = {
    ack: (m: ConsumeMessage, multiple?: boolean) =>
      frames.push(`ack ${m.fields.deliveryTag}${multiple ? " multiple" : ""}`),
    reject: (m: ConsumeMessage, requeue?: boolean) =>
      frames.push(`reject ${m.fields.deliveryTag} requeue=${requeue}`),
  } as unknown as Channel;
  const session = new ChannelSession(channel, pino({ level: "silent" }), undefined, ackWindow);
  const deliver = (tag: number) => {
    session.received(tag, Date.now(), 0);
    const delivery = {
      fields: { deliveryTag: tag },
      properties: { headers: {} },
      content: Buffer.from("{}"),
    } as unknown as ConsumeMessage;
    return new AMQPMessage(delivery, "q", {}, session);
  };
  return { frames, session, deliver };
}

describe("ChannelSession (acknowledger)", () => {
  it("settles a bulk of the oldest outstanding messages with one multiple ack", () => {
    const { frames, session, deliver } = setup();
    const bulk = [1, 2, 3].map(deliver);
    session.settle(bulk, "ack");
    expect(frames).toEqual(["ack 3 multiple"]);
  });

  it("never covers an older message that is still in another handler", () => {
    const { frames, session, deliver } = setup();
    const older = [1, 2].map(deliver);
    const newer = [3, 4].map(deliver);
    session.settle(newer, "ack");
    expect(frames).toEqual(["ack 3", "ack 4"]);
    session.settle(older, "ack");
    expect(frames.slice(2)).toEqual(["ack 2 multiple"]);
  });

  it("settles each message by its own decision when they differ", () => {
    const { frames, session, deliver } = setup();
    const bulk = [1, 2, 3, 4, 5].map(deliver);
    bulk[1]?.reject();
    bulk[3]?.reject({ requeue: false });
    session.settle(bulk, "ack");
    // Negative settlements are written at once; the acks of 1, 3 and 5 are then the oldest
    // outstanding deliveries (2 and 4 are settled), so one multiple ack takes them.
    expect(frames).toEqual(["reject 2 requeue=true", "reject 4 requeue=false", "ack 5 multiple"]);
  });

  it("ignores a second action on the same message", () => {
    const { frames, session, deliver } = setup();
    const message = deliver(1);
    message.reject();
    message.accept();
    session.settle([message], "ack");
    message.accept();
    expect(frames).toEqual(["reject 1 requeue=true"]);
  });

  it("sends nothing for messages of a dead channel", () => {
    const { frames, session, deliver } = setup();
    const bulk = [1, 2].map(deliver);
    expect(session.kill()).toBe(2);
    session.settle(bulk, "ack");
    expect(frames).toEqual([]);
  });

  it("coalesces the acks settled in one event-loop turn into one multiple ack", async () => {
    const { frames, session, deliver } = setup(0);
    for (const message of [1, 2, 3].map(deliver)) session.settle([message], "ack");
    expect(frames).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames).toEqual(["ack 3 multiple"]);
    expect(session.ackFrames).toBe(1);
    expect(session.unsettled).toBe(0);
  });

  it("acks alone, at the flush, what sits behind a delivery still in a handler", async () => {
    const { frames, session, deliver } = setup(0);
    const [first, ...rest] = [1, 2, 3].map(deliver);
    for (const message of rest) session.settle([message], "ack");
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames).toEqual(["ack 2", "ack 3"]);
    session.settle([first!], "ack");
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames.slice(2)).toEqual(["ack 1"]);
  });

  it("never holds a reject or a requeue behind pending acks", async () => {
    const { frames, session, deliver } = setup(0);
    const [one, two, three] = [1, 2, 3].map(deliver);
    session.settle([one!], "ack");
    two?.reject();
    session.settle([two!], "ack");
    session.settle([three!], "requeue");
    expect(frames).toEqual(["reject 2 requeue=true", "reject 3 requeue=true"]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames.slice(2)).toEqual(["ack 1"]);
  });

  it("waits for a positive ackWindow, and flushAcks() writes at once (before a close)", async () => {
    const { frames, session, deliver } = setup(60);
    session.settle([deliver(1)], "ack");
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(frames).toEqual(["ack 1"]);
    session.settle([deliver(2)], "ack");
    session.flushAcks();
    expect(frames.slice(1)).toEqual(["ack 2"]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(frames).toHaveLength(2);
  });

  it("abandons acks still waiting when the channel dies, and counts them as unsettled", async () => {
    const { frames, session, deliver } = setup(0);
    session.settle([deliver(1), deliver(2)], "ack");
    expect(session.kill()).toBe(2);
    await new Promise((resolve) => setImmediate(resolve));
    session.flushAcks();
    expect(frames).toEqual([]);
  });

  it("keeps tags apart across a window wider than the ring (growth keeps the marks)", async () => {
    const { frames, session, deliver } = setup(0);
    const held = deliver(1);
    const later = Array.from({ length: 3000 }, (_, i) => deliver(i + 2));
    for (const message of later) session.settle([message], "ack");
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames).toHaveLength(3000);
    expect(frames.every((frame) => !frame.endsWith("multiple"))).toBe(true);
    session.settle([held], "ack");
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames.at(-1)).toBe("ack 1");
    expect(session.unsettled).toBe(0);
  });
});
