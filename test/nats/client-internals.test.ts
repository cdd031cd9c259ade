import { AckPolicy, type JsMsg } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replyBytes, sendAck } from "../../src/transports/nats/client-internals.js";
import { LoggedMessage, SettleLog } from "../../src/transports/nats/settle-log.js";
import { NATSAdmin, uniqueStream } from "../helpers/nats.js";
import { until } from "../transports/delivery-behaviour.js";

/**
 * weir's ack path reads the installed client's private fields (client-internals.ts). These tests
 * run on real messages from the real server: one fails when a client update moves what weir reads
 * (weir would then take the public path: correct, ~15 % slower), the others check that the acks
 * weir writes itself are acks to JetStream.
 */
describe("the client internals weir's ack path reads", () => {
  let admin: NATSAdmin;
  const stream = uniqueStream("internals");

  beforeAll(async () => {
    admin = await NATSAdmin.connect();
    await admin.stream(stream);
  });
  afterAll(async () => {
    await admin?.close();
  });

  /** `count` fresh messages on a durable of their own with a 1 s ack wait, delivered to this test. */
  async function deliver(durable: string, count: number): Promise<JsMsg[]> {
    await admin.jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 1_000_000_000,
      filter_subject: `${stream}.${durable}`,
    });
    await admin.publish(
      `${stream}.${durable}`,
      Array.from({ length: count }, (_, id) => ({ id })),
    );
    const consumer = await admin.js.consumers.get(stream, durable);
    const batch = await consumer.fetch({ max_messages: count, expires: 5_000 });
    const messages: JsMsg[] = [];
    for await (const message of batch) messages.push(message);
    expect(messages).toHaveLength(count);
    return messages;
  }

  it("finds the reply subject's bytes where the installed client keeps them", async () => {
    const [message] = await deliver("bytes", 1);
    const bytes = replyBytes(message!);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(bytes)).toBe((message as JsMsg & { reply: string }).reply);
    message!.ack();
  });

  it("sends a real ack: the server counts it, never redelivers, and the client's stats count it", async () => {
    const messages = await deliver("acked", 3);
    const before = admin.nc.stats().outMsgs;
    for (const message of messages) expect(sendAck(message, replyBytes(message)!)).toBe(true);
    expect(admin.nc.stats().outMsgs).toBe(before + 3);
    await admin.nc.flush();
    // The server applies acks on a queue of its own: a moment after the flush's PONG.
    await until(
      async () => (await admin.jsm.consumers.info(stream, "acked")).num_ack_pending === 0,
      "the three acks applied",
      5_000,
    );
    const info = await admin.jsm.consumers.info(stream, "acked");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq);
    // Past the 1 s ack wait: an ack the server had not taken would come back now.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const consumer = await admin.js.consumers.get(stream, "acked");
    const again = await consumer.next({ expires: 1_000 });
    expect(again).toBeNull();
  });

  it("an ack is final, as the client's: a later nak or second ack sends nothing", async () => {
    const [message] = await deliver("final", 1);
    expect(sendAck(message!, replyBytes(message!)!)).toBe(true);
    expect(sendAck(message!, replyBytes(message!)!)).toBe(false);
    const before = admin.nc.stats().outMsgs;
    message!.nak(); // the client ignores it: didAck
    expect(admin.nc.stats().outMsgs).toBe(before);
    await admin.nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const consumer = await admin.js.consumers.get(stream, "final");
    expect(await consumer.next({ expires: 1_000 })).toBeNull();
  });

  it("weir's message wrapper acks through it and keeps the ack for a reconnect", async () => {
    const [message] = await deliver("logged", 1);
    const log = new SettleLog(4);
    const logged = new LoggedMessage(message!, log);
    const before = admin.nc.stats().outMsgs;
    logged.ack();
    logged.ack(); // a slip: sent once
    expect(admin.nc.stats().outMsgs).toBe(before + 1);
    const resent: string[] = [];
    log.resend(0, (subject) => resent.push(subject));
    expect(resent).toContain((message as JsMsg & { reply: string }).reply);
    await admin.nc.flush();
    await until(
      async () => (await admin.jsm.consumers.info(stream, "logged")).num_ack_pending === 0,
      "the ack applied",
      5_000,
    );
  });

  it("falls back, sending nothing, on a message without those fields (another client version)", () => {
    let acked = 0;
    const other = { reply: "$JS.ACK.s.c.1.1.1.1.0", ack: () => acked++ } as unknown as JsMsg;
    expect(replyBytes(other)).toBeUndefined();
    expect(sendAck(other, new TextEncoder().encode("$JS.ACK.s.c.1.1.1.1.0"))).toBe(false);
    const log = new SettleLog(2);
    new LoggedMessage(other, log).ack();
    expect(acked).toBe(1);
  });
});
