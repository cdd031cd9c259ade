import type { Action } from "../../../core/constants.js";
import type { Deadline } from "../../../core/deadline.js";
import { failureFields, type Logger } from "../../../core/logger.js";
import { type AckWindow, ChannelSession } from "../channel-session.js";
import type { AMQPMessage } from "../message.js";
import type { AMQPChannel, AMQPConnection, ConsumeMessage } from "../port.js";
import { STREAM_OFFSET_HEADER } from "../qos.js";
import { StreamOffsetError } from "./errors.js";
import { BrokerOffsetStore, type OffsetStore } from "./offset-store.js";
import { offsetText, type ResolvedStream, type StreamOffset } from "./options.js";

/** A delivery's offset in its stream (`x-stream-offset`), or undefined when it has none. */
export function offsetOf(delivery: ConsumeMessage): number | undefined {
  const value = delivery.properties.headers?.[STREAM_OFFSET_HEADER] as unknown;
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  return undefined;
}

/** `x-stream-offset` as `basic.consume` takes it: a Date is an AMQP timestamp (whole seconds). */
export function consumeOffset(offset: StreamOffset): unknown {
  if (offset instanceof Date) return { "!": "timestamp", value: Math.floor(offset.getTime() / 1000) };
  return offset;
}

/**
 * The offsets of one channel incarnation, in arrival order, and which were settled: the offset
 * that may be committed is the newest one below which every delivery is settled (bulks may finish
 * out of order with `concurrency` > 1; a commit never passes one still in a handler).
 */
class OffsetWatermark {
  private pending: number[] = [];
  private head = 0;
  private readonly done = new Set<number>();
  /** The newest offset with every earlier one of this session settled. */
  mark: number | undefined;

  received(offset: number): void {
    this.pending.push(offset);
  }

  /** Marks `offset` settled; returns true when the watermark moved. */
  settled(offset: number): boolean {
    if (this.mark !== undefined && offset <= this.mark) return false;
    this.done.add(offset);
    let moved = false;
    while (this.head < this.pending.length && this.done.has(this.pending[this.head]!)) {
      const next = this.pending[this.head++]!;
      this.done.delete(next);
      this.mark = next;
      moved = true;
    }
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return moved;
  }
}

/**
 * The channel of a stream route: every frame is an ack (a stream refuses reject and requeue by
 * closing the connection, and keeps its messages anyway), and every settled delivery moves the
 * route's offset watermark. A delivery given back at shutdown sends nothing and is not counted as
 * handled: its offset is not committed, so a restart reads it again.
 */
export class StreamSession extends ChannelSession {
  private readonly watermark = new OffsetWatermark();

  constructor(
    channel: AMQPChannel,
    logger: Logger,
    private readonly reader: StreamReader,
    ackWindow: AckWindow = 0,
  ) {
    super(channel, logger, undefined, ackWindow);
  }

  /** Records a delivery's offset; false when it lies before the start offset (acked, skipped). */
  accept(delivery: ConsumeMessage): boolean {
    const offset = offsetOf(delivery);
    if (offset === undefined) return true;
    const from = this.reader.skipBelow;
    if (from !== undefined && offset < from) {
      // RabbitMQ delivers from the start of the chunk that holds the offset asked for.
      try {
        this.channel.ack(delivery);
      } catch (error) {
        this.closedUnderUs(error);
      }
      return false;
    }
    this.watermark.received(offset);
    return true;
  }

  override settle(bulk: readonly AMQPMessage[], fallback: Action): void {
    super.settle(bulk, fallback);
    if (!this.alive) return;
    let moved = false;
    for (const message of bulk) {
      if (message.session !== this) continue;
      const offset = offsetOf(message.delivery);
      if (offset !== undefined && this.watermark.settled(offset)) moved = true;
    }
    if (moved && this.watermark.mark !== undefined) this.reader.handled(this.watermark.mark);
  }

  override giveBack(_message: AMQPMessage): void {
    // Nothing: neither a requeue (refused by a stream) nor a commit of something not handled.
  }

  protected override sendFrame(delivery: ConsumeMessage, _action: Action): void {
    try {
      this.channel.ack(delivery);
    } catch (error) {
      this.closedUnderUs(error);
      return;
    }
    // A delivery settled outside a bulk (an undecodable body): counted as handled too.
    const offset = offsetOf(delivery);
    if (offset !== undefined && this.watermark.settled(offset) && this.watermark.mark !== undefined) {
      this.reader.handled(this.watermark.mark);
    }
  }
}

/** How a stream route reaches its offset store (the broker's by default; tests may give another). */
export type OffsetStoreFactory = (model: AMQPConnection, queue: string, logger: Logger) => OffsetStore;

const brokerStore: OffsetStoreFactory = (model, queue, logger) => new BrokerOffsetStore(model, queue, logger);

/**
 * A stream route's reading position: where each attach starts (`x-stream-offset`), and the commit
 * of the handled offset to the store after each settled bulk, one commit at a time, always the
 * newest (at-least-once: a restart reads again at most what was handled after the last commit).
 */
export class StreamReader {
  /** The last offset stored (ours or found at start); undefined before any. */
  committed: number | undefined;
  /** The newest offset handled with every earlier one of its session handled. */
  private newest: number | undefined;
  /** Offsets below this are skipped (acked unread): the numeric start of the current attach. */
  skipBelow: number | undefined;
  /** Where the current attach started, for logs and health. */
  startedFrom: StreamOffset | undefined;
  private store: OffsetStore | undefined;
  private storeModel: AMQPConnection | undefined;
  private committing: Promise<void> | undefined;
  private loaded = false;
  commits = 0;
  commitFailures = 0;

  constructor(
    readonly route: string,
    readonly stream: ResolvedStream,
    private readonly logger: Logger,
    private readonly storeFactory: OffsetStoreFactory = brokerStore,
  ) {}

  /**
   * Before each attach: the stored offset (read once, at the first attach) wins over the
   * configured one; after a re-attach the route resumes after what it handled. Returns the
   * consumer's `x-stream-offset`.
   */
  async attach(model: AMQPConnection): Promise<unknown> {
    if (this.storeModel !== model) {
      await this.store?.close();
      this.store = this.storeFactory(model, this.stream.offsetQueue, this.logger);
      this.storeModel = model;
    }
    if (!this.loaded) {
      try {
        this.committed = await this.store!.load();
      } catch (error) {
        throw new StreamOffsetError(this.route, this.stream.offsetQueue, "read", error);
      }
      this.loaded = true;
    }
    const resumeAfter = Math.max(this.newest ?? -1, this.committed ?? -1);
    const from: StreamOffset = resumeAfter >= 0 ? resumeAfter + 1 : this.stream.offset;
    this.skipBelow = typeof from === "number" ? from : undefined;
    this.startedFrom = from;
    this.logger.info(
      {
        consumer: this.stream.consumer,
        from: offsetText(from),
        ...(this.committed !== undefined && { committed: this.committed }),
      },
      resumeAfter >= 0
        ? "stream: resuming after the stored offset"
        : "stream: starting at the configured offset",
    );
    return consumeOffset(from);
  }

  /** The session's watermark moved to `offset`: commit it (after the one in flight). */
  handled(offset: number): void {
    if (this.newest !== undefined && offset <= this.newest) return;
    this.newest = offset;
    this.committing ??= this.commitLoop().finally(() => {
      this.committing = undefined;
    });
  }

  /** Waits, within `deadline`, for the newest handled offset to be committed. */
  async flush(deadline: Deadline): Promise<boolean> {
    // A commit that failed with no bulk since: tried once more before the channel closes.
    if (this.committing === undefined && this.newest !== undefined && this.newest > (this.committed ?? -1)) {
      this.committing = this.commitLoop().finally(() => {
        this.committing = undefined;
      });
    }
    const committing = this.committing;
    const done = committing === undefined ? true : await deadline.race(committing);
    await this.store?.close();
    return done;
  }

  private async commitLoop(): Promise<void> {
    while (this.newest !== undefined && (this.committed === undefined || this.newest > this.committed)) {
      const target = this.newest;
      const store = this.store;
      if (store === undefined) return;
      try {
        await store.commit(target);
        this.committed = target;
        this.commits++;
      } catch (error) {
        this.commitFailures++;
        this.logger.warn(
          failureFields(new StreamOffsetError(this.route, this.stream.offsetQueue, "commit", error)),
          "stream offset commit failed; it is tried again after the next bulk",
        );
        return;
      }
    }
  }
}
