import { decodeBody, UNDECODABLE } from "../../../core/codec/body.js";
import { InvalidOptionError } from "../../../core/errors.js";
import type { SchemaIssue } from "../../../core/schema.js";
import type { VhostConnection } from "../connection.js";
import type { AMQPChannel, GetMessage, MessageProperties } from "../port.js";
import { DeadLetterQueueNotFoundError } from "./errors.js";
import type { RawPublish } from "./forwarder.js";
import {
  attemptsOf,
  type DeadLetterReason,
  replayHeaders,
  republishProperties,
  WeirHeaders,
} from "./headers.js";

/** One message of a dead-letter queue, as `listDeadLetters` and a replay `filter` see it. */
export interface DeadLetter {
  /**
   * Decoded as a handler would receive it: JSON for JSON (or untyped) messages, the (decompressed)
   * bytes otherwise; undefined when it cannot be decoded (`raw` has it as stored).
   */
  readonly body: unknown;
  readonly raw: Buffer;
  /** The queue it was consumed from (`x-weir-original-queue`). */
  readonly queue: string;
  /**
   * Why it was dead-lettered; `"delivery-limit"` when the broker put it there past a quorum queue's
   * `x-delivery-limit`; undefined for another message weir did not put there.
   */
  readonly reason: DeadLetterReason | undefined;
  /** The last error's message and code. */
  readonly error: string | undefined;
  readonly errorCode: string | undefined;
  /** How many times a handler failed on it. */
  readonly attempts: number;
  readonly firstFailureAt: Date | undefined;
  readonly lastFailureAt: Date | undefined;
  /** The schema's issues, for `reason: "schema"`. */
  readonly issues: readonly SchemaIssue[] | undefined;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly properties: MessageProperties;
}

/** Options of `app.amqp.listDeadLetters(queue, options)`. */
export interface ListDeadLettersOptions {
  /**
   * How many dead letters to return at most (oldest first).
   * @defaultValue 100
   */
  limit?: number;
  /**
   * The vhost of the queue.
   * @defaultValue the vhost of the route that consumes `queue`, else the app's default vhost
   */
  vhost?: string;
}

/** Options of `app.amqp.replay(queue, options)`. */
export interface ReplayOptions {
  /**
   * How many dead letters to move back at most (oldest first).
   * @defaultValue all of them
   */
  limit?: number;
  /**
   * Replays only the dead letters it returns true for; the others stay, in their order.
   * @defaultValue every dead letter of `queue`
   */
  filter?: (deadLetter: DeadLetter) => boolean;
  /**
   * The vhost of the queue.
   * @defaultValue the vhost of the route that consumes `queue`, else the app's default vhost
   */
  vhost?: string;
}

/** Options of `app.amqp.purgeDeadLetters(queue, options)`. */
export interface PurgeDeadLettersOptions {
  /**
   * The vhost of the queue.
   * @defaultValue the vhost of the route that consumes `queue`, else the app's default vhost
   */
  vhost?: string;
}

/** What a replay did. */
export interface ReplayResult {
  /** Dead letters moved back to the queue. */
  readonly replayed: number;
  /** Dead letters looked at and left in place (the filter said no, or they belong to another queue). */
  readonly skipped: number;
}

/** Replays publish this many at a time, then ack those the broker confirmed. */
const REPLAY_WINDOW = 100;

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : undefined;
}

function date(value: unknown): Date | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const parsed = new Date(raw);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

function issuesOf(value: unknown): readonly SchemaIssue[] | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? (parsed as SchemaIssue[]) : undefined;
  } catch {
    return undefined; // truncated: the full list did not fit in the header
  }
}

function decode(message: GetMessage): unknown {
  const { content, properties } = message;
  const body = decodeBody(content, properties.contentType, properties.contentEncoding);
  return body === UNDECODABLE ? undefined : body;
}

/** weir's `x-weir-reason`, else the broker's when it dead-lettered the message past `x-delivery-limit`. */
function reasonOf(headers: Record<string, unknown>): DeadLetterReason | undefined {
  const weir = text(headers[WeirHeaders.REASON]);
  if (weir !== undefined) return weir as DeadLetterReason;
  return text(headers["x-first-death-reason"]) === "delivery_limit" ? "delivery-limit" : undefined;
}

function toDeadLetter(message: GetMessage, fallbackQueue: string): DeadLetter {
  const headers = message.properties.headers ?? {};
  return {
    body: decode(message),
    raw: message.content,
    queue: text(headers[WeirHeaders.ORIGINAL_QUEUE]) ?? fallbackQueue,
    reason: reasonOf(headers),
    error: text(headers[WeirHeaders.ERROR]),
    errorCode: text(headers[WeirHeaders.ERROR_CODE]),
    attempts: attemptsOf(headers),
    firstFailureAt: date(headers[WeirHeaders.FIRST_FAILURE]),
    lastFailureAt: date(headers[WeirHeaders.LAST_FAILURE]),
    issues: issuesOf(headers[WeirHeaders.ISSUES]),
    headers,
    properties: message.properties,
  };
}

function limitOption(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 1) || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new InvalidOptionError("limit", `must be an integer >= 1 (or Infinity), got ${String(value)}`);
  }
  return value;
}

/**
 * Reads, replays and purges one dead-letter queue, on a channel of its own that lives for one
 * call: messages it takes with `basic.get` and does not ack go back (in their order) when it
 * nacks them at the end, so listing never consumes, and a crash mid-replay loses nothing.
 */
export class DeadLetterQueue {
  constructor(
    private readonly connection: VhostConnection,
    private readonly publish: RawPublish,
    /** The dead-letter queue. */
    readonly name: string,
    /** The queue whose dead letters these are (a shared dead-letter queue holds several). */
    readonly queue: string,
  ) {}

  async list(options: ListDeadLettersOptions = {}): Promise<DeadLetter[]> {
    const limit = limitOption(options.limit, 100);
    return this.withChannel(async (channel, count) => {
      const letters: DeadLetter[] = [];
      for (let seen = 0; seen < count && letters.length < limit; seen++) {
        const message = await channel.get(this.name, { noAck: false });
        if (message === false) break;
        const letter = toDeadLetter(message, this.queue);
        if (letter.queue === this.queue) letters.push(letter);
      }
      return letters;
    });
  }

  /**
   * Moves dead letters back to their queue with a fresh attempt count. Each is acked on the
   * dead-letter queue only after the broker confirmed its copy: a failure leaves a duplicate at
   * worst, never a loss. Stops at the first failed publish and rethrows it.
   */
  async replay(options: ReplayOptions = {}): Promise<ReplayResult> {
    const limit = limitOption(options.limit, Number.POSITIVE_INFINITY);
    const filter = options.filter;
    if (filter !== undefined && typeof filter !== "function") {
      throw new InvalidOptionError("filter", "must be a function of the dead letter");
    }
    return this.withChannel(async (channel, count) => {
      let replayed = 0;
      let skipped = 0;
      let seen = 0;
      while (seen < count && replayed < limit) {
        const window: GetMessage[] = [];
        while (seen < count && replayed + window.length < limit && window.length < REPLAY_WINDOW) {
          const message = await channel.get(this.name, { noAck: false });
          if (message === false) {
            seen = count;
            break;
          }
          seen++;
          const letter = toDeadLetter(message, this.queue);
          if (letter.queue !== this.queue || (filter !== undefined && !filter(letter))) skipped++;
          else window.push(message);
        }
        const results = await Promise.allSettled(
          window.map((message) =>
            this.publish(
              "",
              this.queue,
              message.content,
              republishProperties(message.properties, replayHeaders(message.properties.headers)),
            ),
          ),
        );
        let failure: unknown;
        results.forEach((result, i) => {
          if (result.status === "fulfilled") {
            channel.ack(window[i]!);
            replayed++;
          } else {
            failure ??= result.reason;
          }
        });
        if (failure !== undefined) throw failure;
      }
      return { replayed, skipped };
    });
  }

  /** Deletes every message of the dead-letter queue (of every queue, if it is shared); returns how many. */
  async purge(): Promise<number> {
    return this.withChannel(async (channel) => (await channel.purgeQueue(this.name)).messageCount);
  }

  private async withChannel<T>(work: (channel: AMQPChannel, count: number) => Promise<T>): Promise<T> {
    const model = await this.connection.connect();
    const channel = await model.createChannel();
    channel.on("error", () => {
      // A 404 closes the channel; the rejected call reports it.
    });
    try {
      let count: number;
      try {
        // Bounds the walk: messages it puts back (or that arrive meanwhile) are not seen twice.
        count = (await channel.checkQueue(this.name)).messageCount;
      } catch (error) {
        if ((error as { code?: unknown }).code === 404) {
          throw new DeadLetterQueueNotFoundError(this.name, this.connection.vhost, error);
        }
        throw error;
      }
      return await work(channel, count);
    } finally {
      try {
        channel.nackAll(true);
      } catch {
        // Closed already: the broker requeued everything unacked.
      }
      await channel.close().catch(() => {});
    }
  }
}
