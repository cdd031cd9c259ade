import type { JsMsg } from "@nats-io/jetstream";
import { replyBytes, sendAck } from "./client-internals.js";
import { turnNow } from "./end-of-turn.js";
import type { JetStreamMessage, NATSMessageHeaders } from "./port.js";

const ACK = new TextEncoder().encode("+ACK");
const TERM = new TextEncoder().encode("+TERM");
const UTF8 = new TextDecoder();

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

  /** `bytes`: the reply subject's bytes when the caller read them already ({@link replyBytes}). */
  add(message: JsMsg, term: boolean, bytes = replyBytes(message)): void {
    const i = this.next;
    if (bytes !== undefined && bytes.byteLength > 0 && bytes.byteLength <= SLOT) {
      this.bytes.set(bytes, i * SLOT);
      this.lengths[i] = bytes.byteLength;
      if (this.long[i] !== undefined) this.long[i] = undefined;
    } else if (!this.addString(i, message)) return;
    this.terms[i] = term ? 1 : 0;
    // The turn's clock (one read per event-loop turn): `resend` is asked for a second before the
    // connection went down, far coarser than the time one turn takes.
    this.times[i] = turnNow();
    this.next = i + 1 === this.size ? 0 : i + 1;
  }

  /** Slot `i` takes the reply as a string (a client without the bytes, or a long reply); false when there is none. */
  private addString(i: number, message: JsMsg): boolean {
    const reply = (message as JsMsg & Replied).reply;
    if (reply === undefined || reply === "") return false;
    // All of it was written when it ends short of the slot's end (a write cut short by the slot
    // ends within 3 bytes of it, as UTF-8 characters take up to 4). A longer one is kept as it is.
    const written = this.bytes.write(reply, i * SLOT, SLOT, "utf8");
    if (written < SLOT - 3 && Buffer.byteLength(reply) === written) {
      this.lengths[i] = written;
      if (this.long[i] !== undefined) this.long[i] = undefined;
    } else {
      this.lengths[i] = 0;
      this.long[i] = reply;
    }
    return true;
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
      const reply = long ?? UTF8.decode(this.bytes.subarray(i * SLOT, i * SLOT + length));
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
    const reply = replyBytes(this.message);
    if (reply === undefined || !sendAck(this.message, reply)) this.message.ack();
    this.log.add(this.message, false, reply);
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
