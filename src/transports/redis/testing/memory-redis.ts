import type { WaitOptions } from "../../../testing/driver.js";
import { TestClientError } from "../../../testing/errors.js";
import type { RedisDeadLetter } from "../client.js";
import type { RedisCommands } from "../commands.js";
import { BODY_FIELD, type Fields, RedisFields } from "../fields.js";
import type { RedisMessage } from "../message.js";
import type { RedisRouteConsumer } from "../route-consumer.js";

/** How the group settled an entry's first delivery. */
export type RedisOutcome = "ack" | "requeue" | "retry" | "dead-letter";

/** What `client.redis.publish` resolves with. */
export interface RedisPublishResult {
  /** The entry's id. */
  readonly id: string;
  /**
   * How the first route that consumes the stream settled it: `ack`, `requeue` (it comes back at
   * once, `redelivered`), `retry` (it comes back after the backoff), `dead-letter`; `undefined`
   * when no route of the app reads the stream.
   */
  readonly outcome: RedisOutcome | undefined;
}

/** An entry of a stream in memory. */
export interface MemoryEntry {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
  /** The `body` field JSON-decoded (else the text), or the fields when there is none. */
  readonly body: unknown;
}

function bodyOf(fields: Fields): unknown {
  const text = fields[BODY_FIELD];
  if (text === undefined) return fields;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Redis Streams in memory, for weir/testing: entries added go straight to the routes that read the
 * stream (one consumer per group); a requeue delivers again at once with the delivery count raised,
 * a retry after its delay as a new entry, a dead letter lands in `<stream>.dlq`. Not a Redis: no
 * pending list to reclaim, no trimming (`maxLen` is ignored), one consumer per group.
 */
export class MemoryRedis implements RedisCommands {
  private readonly streams = new Map<string, MemoryEntry[]>();
  private readonly dlq = new Map<string, RedisDeadLetter[]>();
  private readonly waiters = new Map<string, (outcome: RedisOutcome) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private consumers: readonly RedisRouteConsumer[] = [];
  private sequence = 0;
  private lastMs = 0;

  attach(consumers: readonly RedisRouteConsumer[]): void {
    this.consumers = consumers;
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  entries(stream: string): readonly MemoryEntry[] {
    return this.streams.get(stream) ?? [];
  }

  deadLetters(stream: string): readonly RedisDeadLetter[] {
    return this.dlq.get(stream) ?? [];
  }

  /** Adds an entry and waits for its first settlement (bounded by `wait.timeout`). */
  async publishAndWait(
    stream: string,
    fields: Fields,
    wait: WaitOptions | undefined,
  ): Promise<RedisPublishResult> {
    const readers = this.readersOf(stream, undefined);
    if (readers.length === 0) return { id: await this.add(stream, fields), outcome: undefined };
    const timeout = wait?.timeout ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    let id = "";
    const outcome = new Promise<RedisOutcome>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TestClientError(
              "WEIR_ERR_TEST_TIMEOUT",
              `the entry added to ${stream} was not settled within ${timeout} ms`,
            ),
          ),
        timeout,
      );
      id = this.addEntry(stream, fields, undefined, (settled) => resolve(settled));
    });
    try {
      return { id, outcome: await outcome };
    } finally {
      clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------------ RedisCommands

  async add(stream: string, fields: Fields): Promise<string> {
    return this.addEntry(stream, fields, undefined, undefined);
  }

  async ack(_group: string, messages: readonly RedisMessage[]): Promise<void> {
    for (const message of messages) this.settled(message, "ack");
  }

  async release(group: string, _consumer: string, messages: readonly RedisMessage[]): Promise<void> {
    for (const message of messages) {
      this.settled(message, "requeue");
      for (const consumer of this.readersOf(message.stream, group)) {
        setImmediate(() =>
          consumer.deliver(message.stream, message.id, message.fields, message.deliveryCount + 1),
        );
      }
    }
  }

  async retryLater(group: string, message: RedisMessage, fields: Fields, dueAt: number): Promise<void> {
    this.settled(message, "retry");
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.addEntry(message.stream, fields, group, undefined);
      },
      Math.max(0, dueAt - Date.now()),
    );
    this.timers.add(timer);
  }

  async deadLetter(_group: string, message: RedisMessage, fields: Fields): Promise<void> {
    this.settled(message, "dead-letter");
    const letters = this.dlq.get(message.stream) ?? [];
    const attempts = Number(fields[RedisFields.ATTEMPTS] ?? "0");
    letters.push({
      id: this.nextId(),
      body: bodyOf(fields),
      fields,
      reason: fields[RedisFields.REASON],
      attempts: Number.isInteger(attempts) ? attempts : 0,
      error: fields[RedisFields.ERROR],
      originalId: message.id,
    });
    this.dlq.set(message.stream, letters);
  }

  // ------------------------------------------------------------------ internals

  private nextId(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.sequence = 0;
    }
    return `${this.lastMs}-${this.sequence++}`;
  }

  /** The consumers reading `stream`, one per group (of `group` only, when given). */
  private readersOf(stream: string, group: string | undefined): RedisRouteConsumer[] {
    const groups = new Set<string>();
    const readers: RedisRouteConsumer[] = [];
    for (const consumer of this.consumers) {
      const { route } = consumer;
      if (!route.streams.includes(stream) || groups.has(route.group)) continue;
      if (group !== undefined && route.group !== group) continue;
      groups.add(route.group);
      readers.push(consumer);
    }
    return readers;
  }

  private addEntry(
    stream: string,
    fields: Fields,
    group: string | undefined,
    waiter: ((outcome: RedisOutcome) => void) | undefined,
  ): string {
    const id = this.nextId();
    const entries = this.streams.get(stream) ?? [];
    entries.push({ id, fields, body: bodyOf(fields) });
    this.streams.set(stream, entries);
    if (waiter !== undefined) this.waiters.set(`${stream}\u0000${id}`, waiter);
    for (const consumer of this.readersOf(stream, group)) {
      queueMicrotask(() => consumer.deliver(stream, id, fields, 1));
    }
    return id;
  }

  private settled(message: RedisMessage, outcome: RedisOutcome): void {
    const key = `${message.stream}\u0000${message.id}`;
    const waiter = this.waiters.get(key);
    if (waiter === undefined) return;
    this.waiters.delete(key);
    waiter(outcome);
  }
}
