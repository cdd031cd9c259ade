import { failureFields, type Logger } from "../../../core/logger.js";
import type { AMQPConfirmChannel, AMQPConnection } from "../port.js";

/**
 * Where a stream consumer's offset is kept: a durable quorum queue on the broker,
 * `<stream>.weir-offsets.<consumer>`, holding one message whose body is the last committed offset
 * (`{"offset": 41}`). A commit publishes the new offset (confirmed), then takes the older messages
 * off the head of the queue, so it holds one message, two for a moment. Why the broker and not
 * Redis (docs/amqp.md, Streams): the offset lives next to the stream, on the same nodes, replicated
 * as a quorum queue as the stream is, and needs no other service that must be up and persistent
 * for a restarted worker to resume.
 */
export const OFFSET_QUEUE_ARGUMENTS = { "x-queue-type": "quorum" } as const;

/** A stream consumer's committed offset, kept outside the worker. */
export interface OffsetStore {
  /** The last committed offset, or undefined when the consumer never committed. */
  load(): Promise<number | undefined>;
  /** Stores `offset` as the last one handled; resolves once the broker confirmed it. */
  commit(offset: number): Promise<void>;
  close(): Promise<void>;
}

function parse(content: Buffer): number | undefined {
  try {
    const offset = (JSON.parse(content.toString("utf8")) as { offset?: unknown }).offset;
    return typeof offset === "number" && Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
  } catch {
    return undefined;
  }
}

/** The broker's offset store, on its own confirm channel of the route's connection. */
export class BrokerOffsetStore implements OffsetStore {
  private channel: Promise<AMQPConfirmChannel> | undefined;

  constructor(
    private readonly model: AMQPConnection,
    readonly queue: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Reads every message of the queue (normally one; two if a worker died between a commit's
   * publish and the removal of the older one) and keeps the largest offset: commits only grow.
   * The largest is published again before the ones read are acked, so a crash in between keeps it.
   */
  async load(): Promise<number | undefined> {
    const channel = await this.open();
    const { messageCount } = await channel.checkQueue(this.queue);
    let best: number | undefined;
    let last: Parameters<AMQPConfirmChannel["ack"]>[0] | undefined;
    // Bounded by what the queue held when asked (one message, a few after crashes mid-commit).
    for (let i = 0; i < Math.min(messageCount, 1000); i++) {
      const message = await channel.get(this.queue, { noAck: false });
      if (message === false) break;
      last = message;
      const offset = parse(message.content);
      if (offset !== undefined && (best === undefined || offset > best)) best = offset;
    }
    if (last === undefined) return undefined;
    if (best !== undefined) await this.publish(channel, best);
    channel.ack(last, true);
    return best;
  }

  /** Publishes `offset` (confirmed), then removes the older offsets ahead of it. */
  async commit(offset: number): Promise<void> {
    const channel = await this.open();
    await this.publish(channel, offset);
    const { messageCount } = await channel.checkQueue(this.queue);
    // This consumer is the queue's only writer: everything before its newest message is older.
    for (let i = 1; i < Math.min(messageCount, 1000); i++) {
      if ((await channel.get(this.queue, { noAck: true })) === false) break;
    }
  }

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    if (channel === undefined) return;
    try {
      await (await channel).close();
    } catch {
      // Closed with its connection already.
    }
  }

  private publish(channel: AMQPConfirmChannel, offset: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      channel.sendToQueue(
        this.queue,
        Buffer.from(JSON.stringify({ offset })),
        { persistent: true, contentType: "application/json", timestamp: Math.floor(Date.now() / 1000) },
        (error: unknown) =>
          error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
      );
    });
  }

  private open(): Promise<AMQPConfirmChannel> {
    this.channel ??= (async () => {
      const channel = await this.model.createConfirmChannel();
      channel.on("error", (error: Error) =>
        this.logger.warn(failureFields(error), "stream offset channel error"),
      );
      channel.on("close", () => {
        this.channel = undefined;
      });
      await channel.assertQueue(this.queue, { durable: true, arguments: { ...OFFSET_QUEUE_ARGUMENTS } });
      return channel;
    })().catch((error: unknown) => {
      this.channel = undefined;
      throw error;
    });
    return this.channel;
  }
}
