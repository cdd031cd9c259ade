import type { Deadline } from "../../../core/deadline.js";
import { NATSNoStreamError } from "../errors.js";
import type {
  ConsumeEvents,
  ConsumerCounts,
  ConsumerSettings,
  Consumption,
  JetStreamMessage,
  NATSMessageHeaders,
  NATSPort,
  PublishAck,
  StoredMessage,
} from "../port.js";

/** NATS subject matching: `*` one token, `>` the rest (one token or more). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

class Headers implements NATSMessageHeaders {
  constructor(private readonly record: Readonly<Record<string, string>>) {}
  get(key: string): string {
    return this.record[key] ?? "";
  }
  keys(): string[] {
    return Object.keys(this.record);
  }
}

interface Stream {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly messages: Map<number, StoredMessage>;
  readonly ids: Set<string>;
  last: number;
}

/** How a message left its consumer, for the test client's waits. */
export type MemoryOutcome = "ack" | "term";

interface Consumer {
  readonly stream: Stream;
  readonly settings: ConsumerSettings;
  /** The next stream sequence to deliver. */
  cursor: number;
  /** Delivered, not acked yet: seq → deliveries so far. */
  readonly pending: Map<number, number>;
  /** Nak'ed and due again (seq → deliveries so far), in order. */
  readonly redeliver: Map<number, number>;
  /** Deliveries so far of messages no longer pending (ack'ed / term'ed), for `attempts`. */
  sink: ConsumeEvents | undefined;
}

/**
 * JetStream in memory, for weir/testing: streams (subjects, sequences, `Nats-Msg-Id` dedup),
 * durable consumers (a cursor, pending acks bounded by `max_ack_pending`, `nak(delay)` with a
 * timer, `term`, delivery counts). No ack wait (nothing is redelivered unless nak'ed), no limits.
 */
export class MemoryJetStream implements NATSPort {
  readonly connected = true;
  readonly server = "memory";
  readonly reconnects = 0;
  private readonly streams = new Map<string, Stream>();
  private readonly consumers = new Map<string, Consumer>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Told when a message leaves its consumer: `${stream}:${seq}`. */
  private readonly settled = new Map<string, { outcome: MemoryOutcome; attempts: number }>();
  private readonly waiters = new Map<string, Array<() => void>>();

  async connect(): Promise<void> {}

  async streamExists(stream: string): Promise<boolean> {
    return this.streams.has(stream);
  }

  async ensureStream(stream: string, subjects: readonly string[]): Promise<void> {
    if (!this.streams.has(stream))
      this.streams.set(stream, {
        name: stream,
        subjects: [...subjects],
        messages: new Map(),
        ids: new Set(),
        last: 0,
      });
  }

  async ensureConsumer(stream: string, settings: ConsumerSettings): Promise<void> {
    const key = `${stream}\u0000${settings.durable}`;
    const found = this.streams.get(stream);
    if (found === undefined) throw new Error(`stream not found: ${stream}`);
    if (!this.consumers.has(key)) {
      this.consumers.set(key, {
        stream: found,
        settings,
        cursor: 1,
        pending: new Map(),
        redeliver: new Map(),
        sink: undefined,
      });
    }
  }

  async consumerCounts(stream: string, durable: string): Promise<ConsumerCounts> {
    const consumer = this.consumers.get(`${stream}\u0000${durable}`);
    if (consumer === undefined) return { pending: 0, ackPending: 0 };
    let undelivered = consumer.redeliver.size;
    for (const [seq, m] of consumer.stream.messages)
      if (seq >= consumer.cursor && this.wanted(consumer, m)) undelivered++;
    return { pending: undelivered, ackPending: consumer.pending.size };
  }

  async consume(
    stream: string,
    durable: string,
    _batch: number,
    events: ConsumeEvents,
  ): Promise<Consumption> {
    const consumer = this.consumers.get(`${stream}\u0000${durable}`);
    if (consumer === undefined) throw new Error(`consumer not found: ${durable}`);
    consumer.sink = events;
    queueMicrotask(() => this.pump(consumer));
    return {
      close: async () => {
        consumer.sink = undefined;
      },
    };
  }

  async publish(
    subject: string,
    data: Uint8Array,
    options: { headers?: Readonly<Record<string, string>>; msgID?: string } = {},
  ): Promise<PublishAck> {
    const stream = [...this.streams.values()].find((s) => s.subjects.some((p) => subjectMatches(p, subject)));
    if (stream === undefined) throw new NATSNoStreamError(subject);
    if (options.msgID !== undefined) {
      if (stream.ids.has(options.msgID)) return { stream: stream.name, seq: stream.last, duplicate: true };
      stream.ids.add(options.msgID);
    }
    const seq = ++stream.last;
    const headers = {
      ...options.headers,
      ...(options.msgID === undefined ? {} : { "Nats-Msg-Id": options.msgID }),
    };
    stream.messages.set(seq, { seq, subject, data: Uint8Array.from(data), headers });
    for (const consumer of this.consumers.values())
      if (consumer.stream === stream) queueMicrotask(() => this.pump(consumer));
    return { stream: stream.name, seq, duplicate: false };
  }

  async readMessages(stream: string, limit: number): Promise<StoredMessage[]> {
    return [...(this.streams.get(stream)?.messages.values() ?? [])].slice(0, limit);
  }

  async deleteMessage(stream: string, seq: number): Promise<void> {
    this.streams.get(stream)?.messages.delete(seq);
  }

  async purgeStream(stream: string, subject: string): Promise<number> {
    const found = this.streams.get(stream);
    if (found === undefined) return 0;
    let purged = 0;
    for (const [seq, m] of found.messages) {
      if (subjectMatches(subject, m.subject)) {
        found.messages.delete(seq);
        purged++;
      }
    }
    return purged;
  }

  async close(_deadline: Deadline): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** Every stream's name. */
  streamNames(): string[] {
    return [...this.streams.keys()];
  }

  /** Resolves when the message `seq` of `stream` leaves a consumer (acked or terminated). */
  whenSettled(stream: string, seq: number): Promise<{ outcome: MemoryOutcome; attempts: number }> {
    const key = `${stream}:${seq}`;
    const done = this.settled.get(key);
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? [];
      list.push(() => resolve(this.settled.get(key)!));
      this.waiters.set(key, list);
    });
  }

  private wanted(consumer: Consumer, message: StoredMessage): boolean {
    const filter = consumer.settings.filterSubject;
    return filter === undefined || subjectMatches(filter, message.subject);
  }

  /** Delivers what the consumer may take: nak'ed ones due first, then new ones, up to max_ack_pending. */
  private pump(consumer: Consumer): void {
    const max = consumer.settings.maxAckPending;
    for (const [seq, count] of consumer.redeliver) {
      if (consumer.sink === undefined || consumer.pending.size >= max) return;
      consumer.redeliver.delete(seq);
      const message = consumer.stream.messages.get(seq);
      if (message !== undefined) this.deliver(consumer, message, count + 1);
    }
    while (
      consumer.sink !== undefined &&
      consumer.pending.size < max &&
      consumer.cursor <= consumer.stream.last
    ) {
      const message = consumer.stream.messages.get(consumer.cursor++);
      if (message !== undefined && this.wanted(consumer, message)) this.deliver(consumer, message, 1);
    }
  }

  private deliver(consumer: Consumer, stored: StoredMessage, count: number): void {
    consumer.pending.set(stored.seq, count);
    let answered = false;
    const answer = (outcome: MemoryOutcome | "nak", delay = 0): void => {
      if (answered) return;
      answered = true;
      consumer.pending.delete(stored.seq);
      if (outcome === "nak") {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          consumer.redeliver.set(stored.seq, count);
          this.pump(consumer);
        }, delay);
        this.timers.add(timer);
        return;
      }
      const key = `${consumer.stream.name}:${stored.seq}`;
      this.settled.set(key, { outcome, attempts: count });
      for (const wake of this.waiters.get(key) ?? []) wake();
      this.waiters.delete(key);
      queueMicrotask(() => this.pump(consumer));
    };
    const message: JetStreamMessage = {
      subject: stored.subject,
      data: stored.data,
      seq: stored.seq,
      redelivered: count > 1,
      info: { deliveryCount: count, stream: consumer.stream.name },
      headers: Object.keys(stored.headers).length === 0 ? undefined : new Headers(stored.headers),
      ack: () => answer("ack"),
      nak: (millis?: number) => answer("nak", millis ?? 0),
      term: () => answer("term"),
      working: () => {},
    };
    consumer.sink?.onMessage(message);
  }
}
