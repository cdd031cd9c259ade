import type { JsMsg } from "@nats-io/jetstream";
import type { JetStreamMessage, NATSMessageHeaders } from "./port.js";

const ACK = new TextEncoder().encode("+ACK");
const TERM = new TextEncoder().encode("+TERM");

/** The reply subject the client's `JsMsg` answers on (`JsMsgImpl.reply`). */
type Replied = { readonly reply?: string };

/**
 * The last acks and terms this connection sent, to send again after a reconnect. An ack is a
 * fire-and-forget publish: one sent as the server went down, or buffered by the client and
 * delivered to a restarted server before JetStream recovered the consumer, is dropped, and the
 * message stays pending until `ack_wait` lapses (then comes back as a duplicate, and while it is
 * pending it fills `max_ack_pending`: a route that holds `prefetch` of them receives nothing for
 * `ack_wait`). JetStream acks are idempotent, so answering again what the server did get is harmless.
 * A ring of the last `size` answers, by reply subject only (a kept message and its body would
 * outlive the young generation and cost the garbage collector); `nak`s are not kept (a lost nak
 * is redelivered anyway).
 */
export class SettleLog {
  private readonly replies: (string | undefined)[];
  private readonly terms: boolean[];
  private readonly times: number[];
  private next = 0;

  constructor(private readonly size = 8_192) {
    this.replies = new Array(size).fill(undefined);
    this.terms = new Array(size).fill(false);
    this.times = new Array(size).fill(0);
  }

  add(message: JsMsg, term: boolean): void {
    const reply = (message as JsMsg & Replied).reply;
    if (reply === undefined) return;
    const i = this.next;
    this.replies[i] = reply;
    this.terms[i] = term;
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
      const reply = this.replies[i];
      if (reply === undefined || (this.times[i] ?? 0) < since) continue;
      try {
        publish(reply, this.terms[i] ? TERM : ACK);
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
