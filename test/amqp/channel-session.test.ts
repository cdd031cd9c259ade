import type { Channel, ConsumeMessage } from "amqplib";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ChannelSession } from "../../src/transports/amqp/channel-session.js";
import { AMQPMessage } from "../../src/transports/amqp/message.js";

/** Pure-logic unit test of the acknowledger: records the frames it would send. */
function setup() {
  const frames: string[] = [];
  const channel = {
    ack: (m: ConsumeMessage, multiple?: boolean) =>
      frames.push(`ack ${m.fields.deliveryTag}${multiple ? " multiple" : ""}`),
    reject: (m: ConsumeMessage, requeue?: boolean) =>
      frames.push(`reject ${m.fields.deliveryTag} requeue=${requeue}`),
  } as unknown as Channel;
  const session = new ChannelSession(channel, pino({ level: "silent" }));
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
    expect(frames).toEqual(["ack 1", "reject 2 requeue=true", "ack 3", "reject 4 requeue=false", "ack 5"]);
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
});
