import type { JsMsg } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { SettleLog } from "../../src/transports/nats/settle-log.js";

/** What the log reads of a client message without the bytes (another client version): its reply subject. */
const answered = (reply: string) => ({ reply }) as unknown as JsMsg;

/** A message shaped as @nats-io/nats-core 3.x gives it: the reply's bytes under `msg._msg.reply`, a view of a larger read buffer. */
const answeredAsRead = (reply: string): JsMsg => {
  const bytes = new TextEncoder().encode(reply);
  const read = new Uint8Array(bytes.byteLength + 40).fill(0x20);
  read.set(bytes, 20);
  return { reply, msg: { _msg: { reply: read.subarray(20, 20 + bytes.byteLength) } } } as unknown as JsMsg;
};

function resent(log: SettleLog, since = 0): string[] {
  const out: string[] = [];
  log.resend(since, (subject, data) => out.push(`${subject} ${new TextDecoder().decode(data)}`));
  return out;
}

describe("the settle log (acks and terms sent again after a reconnect)", () => {
  it("sends every kept answer again on its reply subject, +ACK or +TERM, long subjects too", () => {
    const log = new SettleLog(5);
    const long = `$JS.ACK.${"s".repeat(120)}.${"c".repeat(60)}.1.9.9.1764490000000000000.0`;
    log.add(answered("$JS.ACK.orders.workers.1.1.1.1764490000000000000.2"), false);
    log.add(answered("$JS.ACK.orders.workers.1.2.2.1764490000000000001.1"), true);
    log.add(answered(long), false);
    log.add(answered(""), false); // no reply subject: nothing to answer
    // Not ASCII, 159 characters in 161 bytes: cut short by the 160-byte slot after 159 bytes, as
    // many as it has characters. Kept as it is.
    const accented = `$JS.ACK.${"a".repeat(149)}${"é".repeat(2)}`;
    log.add(answered(accented), false);
    expect(resent(log)).toEqual([
      "$JS.ACK.orders.workers.1.1.1.1764490000000000000.2 +ACK",
      "$JS.ACK.orders.workers.1.2.2.1764490000000000001.1 +TERM",
      `${long} +ACK`,
      `${accented} +ACK`,
    ]);
  });

  it("copies the client's bytes when it has them: the same answers, UTF-8 and long subjects included", () => {
    const log = new SettleLog(6);
    const long = `$JS.ACK.${"s".repeat(120)}.${"c".repeat(60)}.1.9.9.1764490000000000000.0`;
    const accented = `$JS.ACK.${"a".repeat(149)}${"é".repeat(2)}`; // 161 bytes: over a slot, kept as a string
    const fits = `$JS.ACK.${"é".repeat(40)}.c.1.1.1.1.0`; // 80 characters in 100 bytes
    log.add(answeredAsRead("$JS.ACK.orders.workers.1.1.1.1764490000000000000.2"), false);
    log.add(answeredAsRead("$JS.ACK.orders.workers.1.2.2.1764490000000000001.1"), true);
    log.add(answeredAsRead(long), false);
    log.add(answeredAsRead(accented), true);
    log.add(answeredAsRead(fits), false);
    log.add(answeredAsRead(""), false); // no reply subject: nothing to answer
    expect(resent(log)).toEqual([
      "$JS.ACK.orders.workers.1.1.1.1764490000000000000.2 +ACK",
      "$JS.ACK.orders.workers.1.2.2.1764490000000000001.1 +TERM",
      `${long} +ACK`,
      `${accented} +TERM`,
      `${fits} +ACK`,
    ]);
  });

  it("keeps the last `size` answers only, and those since the time asked", () => {
    const log = new SettleLog(2);
    const long = `$JS.ACK.${"x".repeat(200)}.1`;
    log.add(answered(long), false);
    log.add(answered("$JS.ACK.a.b.1.2"), false);
    log.add(answered("$JS.ACK.a.b.1.3"), true); // overwrites the long one's slot
    expect(resent(log).sort()).toEqual(["$JS.ACK.a.b.1.2 +ACK", "$JS.ACK.a.b.1.3 +TERM"]);
    expect(resent(log, Date.now() + 60_000)).toEqual([]);
  });
});
