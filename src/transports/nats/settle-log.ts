import type { JsMsg } from "@nats-io/jetstream";
import type { JetStreamMessage, NATSMessageHeaders } from "./port.js";

const ACK = new TextEncoder().encode("+ACK");
const TERM = new TextEncoder().encode("+TERM");
const LATIN1 = new TextDecoder("latin1");

/** The reply subject the client's `JsMsg` answers on (`JsMsgImpl.reply`). */
type Replied = { readonly reply?: string };

/** Bytes a reply subject may take in the ring; a longer one is kept as a string (rare: long names). */
const SLOT = 160;

/**
 * The last acks and terms this connection sent, to send again after a reconnect. An ack is a
 * fire-and-forget publish: one sent as the server went down, or buffered by the client and
 * delivered to a restarted server before JetStream recovered the consumer, is dropped, and the
 * message stays pending until `ack_wait` lapses (then comes back as a duplicate, and while it is
 * pending it fills `max_ack_pending`: a route that holds `prefetch` of them receives nothing for
 * `ack_wait`). JetStream acks are idempotent, so answering again what the server did get is harmless.
 * `nak`s are not kept (a lost nak is redelivered anyway).
 *
 * A ring of the last `size` answers, by reply subject only, copied as bytes into one buffer off
 * the JavaScript heap: the reply strings themselves, kept for the `size` answers after them, outlived
 * the young generation's collections (one every few thousand messages at full speed) and were
 * promoted to the old one, for full collections to sweep (docs/performance.md, NATS JetStream).
 * Copied, they die young with their message.
 */
export class SettleLog {
  private readonly bytes: Buffer;
  private readonly lengths: Uint16Array;
  private readonly terms: Uint8Array;
  private readonly times: Float64Array;
  /** Replies longer than a slot, by slot (undefined when the slot holds bytes). */
  private readonly long: (string | undefined)[];
  private next = 0;

  constructor(private readonly size = 8_192) {
    this.bytes = Buffer.alloc(size * SLOT);
    this.lengths = new Uint16Array(size);
    this.terms = new Uint8Array(size);
    this.times = new Float64Array(size);
    this.long = new Array(size).fill(undefined);
  }

  add(message: JsMsg, term: boolean): void {
    const reply = (message as JsMsg & Replied).reply;
    if (reply === undefined || reply === "") return;
    const i = this.next;
    // Reply subjects are ASCII as a rule (the server makes them from stream and consumer names):
    // one byte a character. All of it was written, and so it is ASCII, when as many bytes as
    // characters were written short of the slot's end (a write cut short by the slot ends within
    // 3 bytes of it). Any other reply is kept as it is.
    const written = this.bytes.write(reply, i * SLOT, SLOT, "utf8");
    if (written === reply.length && written < SLOT - 3) {
      this.lengths[i] = written;
      if (this.long[i] !== undefined) this.long[i] = undefined;
    } else {
      this.lengths[i] = 0;
      this.long[i] = reply;
    }
    this.terms[i] = term ? 1 : 0;
    this.times[i] = Date.now();
    this.next = i + 1 === this.size ? 0 : i + 1;
  }

  /**
   * Answers again, through `publish`, everything answered since `since` (ms since the epoch);
   * returns how many.
   */
  resend(since: number, publish: (subject: string, data: Uint8Array) => void): number {
    let count = 0;
    for (let i = 0; i < this.size; i++) {
      const length = this.lengths[i]!;
      const long = this.long[i];
      if ((length === 0 && long === undefined) || this.times[i]! < since) continue;
      const reply = long ?? LATIN1.decode(this.bytes.subarray(i * SLOT, i * SLOT + length));
      try {
        publish(reply, this.terms[i] === 1 ? TERM : ACK);
        count++;
      } catch {
        // The connection went again: the next reconnect sends it.
      }
    }
    return count;
  }
}

/** A `JsMsg` whose acks and terms are written down in the connection's {@link SettleLog}. */
export class LoggedMessage implements JetStreamMessage {
  constructor(
    private readonly message: JsMsg,
    private readonly log: SettleLog,
  ) {}
  get subject(): string {
    return this.message.subject;
  }
  get data(): Uint8Array {
    return this.message.data;
  }
  get seq(): number {
    return this.message.seq;
  }
  get redelivered(): boolean {
    return this.message.redelivered;
  }
  get info(): { readonly deliveryCount: number; readonly stream: string } {
    return this.message.info;
  }
  get headers(): NATSMessageHeaders | undefined {
    return this.message.headers;
  }
  ack(): void {
    this.message.ack();
    this.log.add(this.message, false);
  }
  nak(millis?: number): void {
    this.message.nak(millis);
  }
  term(reason?: string): void {
    this.message.term(reason);
    this.log.add(this.message, true);
  }
  working(): void {
    this.message.working();
  }
}
