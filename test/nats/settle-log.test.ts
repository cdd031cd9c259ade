import type { JsMsg } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { SettleLog } from "../../src/transports/nats/settle-log.js";

/** What the log reads of a client message: its reply subject. */
const answered = (reply: string) => ({ reply }) as unknown as JsMsg;

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
