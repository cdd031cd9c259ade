import { failureFields, type Logger } from "../../../core/logger.js";
import type { VhostConnection } from "../connection.js";
import { brokerReason } from "../consume-errors.js";
import type { AMQPChannel, AMQPConnection, Options } from "../port.js";
import { PublishClosedError, PublishNotSentError } from "../publish-errors.js";
import type { QueueType } from "../queue-type.js";
import { DelayQueueDeclareError } from "./errors.js";

/**
 * The queues weir declares for retries and dead letters.
 *
 * A retry waits in a delay queue `<queue>.retry.<ms>`: no consumer, `x-message-ttl` = the delay, and
 * a dead-letter route back to `<queue>` through the default exchange. Every message of one delay
 * queue has the same TTL, so they expire in FIFO order (per-message TTLs in one queue would not:
 * RabbitMQ only expires messages at the head). Unused delay queues delete themselves (`x-expires`).
 *
 * A quorum delay queue (`retry.queueType: "quorum"`) is `<queue>.retry.<ms>.quorum`: a name of its
 * own, so that it never meets a classic delay queue of the same delay (a queue's type and arguments
 * are fixed when it is created, and a redeclare with others is refused), and a rolling upgrade runs
 * old and new workers side by side. RabbitMQ 3.10+ gives quorum queues what a delay queue needs
 * (`x-message-ttl`, `x-expires`, dead-lettering); the dead-lettering is made at-least-once
 * (`x-dead-letter-strategy`, which needs `x-overflow: reject-publish`): the queue keeps an expired
 * message until its source queue confirmed it, where at-most-once would drop it if that queue is
 * unavailable at that moment (its leader's node is down).
 */

/** The longest retry delay: 7 days keeps `x-expires` (about twice the delay) a 32-bit integer. */
export const MAX_DELAY_MS = 7 * 24 * 3600 * 1000;
/** Added to twice the TTL for a delay queue's `x-expires`. */
const EXPIRES_MARGIN_MS = 60_000;
/** A delay queue is declared again when its last declare is older than its TTL plus this. */
const RENEW_MARGIN_MS = 30_000;
/** The dead-letter queue is re-declared at most this often (it may have been deleted by hand). */
export const DLQ_REDECLARE_MS = 60_000;
/**
 * A delay queue the broker refused (406: it exists with other arguments) is not declared again for
 * this long: each refusal closes the declaring channel, and every failing message would cost one.
 */
export const REFUSED_DECLARE_MS = 5_000;

/**
 * Rounds a delay to two significant digits (123 → 120, 45,678 → 46,000; exact below 100 ms) and
 * caps it at {@link MAX_DELAY_MS}. Each distinct delay is a queue, and jittered backoffs would
 * otherwise create one per message; the rounding moves a delay by at most 5%.
 */
export function quantizeDelay(ms: number): number {
  const delay = Math.min(MAX_DELAY_MS, Math.max(0, Number.isFinite(ms) ? ms : MAX_DELAY_MS));
  if (delay < 100) return Math.round(delay);
  const step = 10 ** (Math.floor(Math.log10(delay)) - 1);
  return Math.min(MAX_DELAY_MS, Math.round(delay / step) * step);
}

export function delayQueueName(queue: string, delayMs: number, type: QueueType = "classic"): string {
  return type === "quorum" ? `${queue}.retry.${delayMs}.quorum` : `${queue}.retry.${delayMs}`;
}

/**
 * `x-expires` of a delay queue. The broker deletes a queue that has gone unused (no consumer, no
 * get, no re-declare) for this long, *even with messages in it*, and a publish does not count as a
 * use. So it is well above the TTL, and weir re-declares the queue (renewing the lease) before a
 * publish whenever the last declare is older than `delay + 30 s` (see {@link renewAfter}): every
 * message then has at least 30 s of lease left when it expires back to its queue.
 */
export function delayQueueExpires(delayMs: number): number {
  return delayMs * 2 + EXPIRES_MARGIN_MS;
}

/** How old a delay queue's last declare may be for a publish to skip declaring it again. */
export function renewAfter(delayMs: number): number {
  return delayMs + RENEW_MARGIN_MS;
}

export function delayQueueOptions(
  queue: string,
  delayMs: number,
  type: QueueType = "classic",
): Options.AssertQueue {
  const args: Record<string, unknown> = {
    "x-message-ttl": delayMs,
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": queue,
    "x-expires": delayQueueExpires(delayMs),
  };
  if (type === "quorum") {
    args["x-queue-type"] = "quorum";
    args["x-dead-letter-strategy"] = "at-least-once";
    args["x-overflow"] = "reject-publish";
  }
  return { durable: true, arguments: args };
}

export const DEAD_LETTER_QUEUE_OPTIONS: Options.AssertQueue = { durable: true };
const QUORUM_DEAD_LETTER_QUEUE_OPTIONS: Options.AssertQueue = {
  durable: true,
  arguments: { "x-queue-type": "quorum" },
};

/** How weir declares a dead-letter queue of `type`. */
export function deadLetterQueueOptions(type: QueueType): Options.AssertQueue {
  return type === "quorum" ? QUORUM_DEAD_LETTER_QUEUE_OPTIONS : DEAD_LETTER_QUEUE_OPTIONS;
}

function brokerCode(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

/**
 * Declares weir's queues on one vhost, on a channel of its own: a refused declare closes the
 * channel it runs on, and that must never be a route's consuming channel (its unacked messages
 * would all be redelivered). Declares are cached per channel incarnation; a new channel (after a
 * reconnect, or a refused declare) starts with an empty cache, so topology is declared again.
 */
export class Declarer {
  private channel: AMQPChannel | undefined;
  private opening: Promise<AMQPChannel> | undefined;
  /** Queue → when its last successful declare was sent (ms epoch), on the current channel. */
  private readonly declared = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Queue → the refusal of its last declare and when it came (ms epoch); see REFUSED_DECLARE_MS. */
  private readonly refused = new Map<string, { error: DelayQueueDeclareError; at: number }>();
  private closed = false;

  constructor(
    private readonly connection: VhostConnection,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Declares `queue` unless this channel declared it less than `maxAgeMs` ago. With `existingOk`, a
   * queue that already exists with other arguments (406) is accepted as it is (a dead-letter queue
   * the user made a quorum queue, say).
   * @throws DelayQueueDeclareError `WEIR_ERR_DELAY_QUEUE_DECLARE` (without `existingOk`) when the
   * queue exists with other arguments: the broker refused the declare (406 PRECONDITION_FAILED).
   * Thrown again without asking the broker for {@link REFUSED_DECLARE_MS}.
   */
  ensure(queue: string, options: Options.AssertQueue, maxAgeMs: number, existingOk = false): Promise<void> {
    const refusal = this.refused.get(queue);
    if (refusal !== undefined) {
      if (Date.now() - refusal.at < REFUSED_DECLARE_MS) return Promise.reject(refusal.error);
      this.refused.delete(queue);
    }
    // A declare in flight is joined first, even once the cache says fresh: the callers that waited
    // for it resume in call order, and one arriving as it completes does not overtake them (its
    // forward would reach the queue first; issue #16).
    const pending = this.inFlight.get(queue);
    if (pending !== undefined) return pending;
    const at = this.declared.get(queue);
    if (at !== undefined && Date.now() - at < maxAgeMs) return Promise.resolve();
    const declaring = this.declare(queue, options, existingOk);
    this.inFlight.set(queue, declaring);
    const forget = (): void => {
      if (this.inFlight.get(queue) === declaring) this.inFlight.delete(queue);
    };
    declaring.then(forget, forget);
    return declaring;
  }

  /** Forgets that `queue` was declared: the broker returned a publish to it, so it is gone. */
  forget(queue: string): void {
    this.declared.delete(queue);
  }

  async close(): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    this.channel = undefined;
    if (channel) await channel.close().catch(() => {});
  }

  private async declare(queue: string, options: Options.AssertQueue, existingOk: boolean): Promise<void> {
    if (existingOk) return this.declareAsIs(queue, options);
    const sentAt = Date.now();
    const channel = await this.open();
    try {
      await channel.assertQueue(queue, options);
    } catch (error) {
      if (brokerCode(error) !== 406) throw error;
      const refusal = new DelayQueueDeclareError(queue, options.arguments ?? {}, error);
      this.refused.set(queue, { error: refusal, at: Date.now() });
      throw refusal;
    }
    if (this.channel === channel) this.declared.set(queue, sentAt);
  }

  /**
   * A declare that accepts the queue as it exists (a dead-letter queue: a classic one made before
   * its route became quorum, a quorum one made by hand). It runs on a channel of its own: its 406
   * closes that channel, never the shared one other declares are in flight on. Remembered either
   * way until the shared channel changes (a reconnect) or `forget`.
   */
  private async declareAsIs(queue: string, options: Options.AssertQueue): Promise<void> {
    const sentAt = Date.now();
    const model = await this.connect();
    const channel = await model.createChannel();
    channel.on("error", () => {
      // A 406 closes this channel: the rejected assertQueue reports it.
    });
    try {
      await channel.assertQueue(queue, options);
    } catch (error) {
      if (brokerCode(error) !== 406) throw error;
      this.logger.info(
        { queue, declared: options.arguments ?? {}, broker: brokerReason(error) },
        "queue exists with other arguments; using it as it is",
      );
    } finally {
      await channel.close().catch(() => {});
    }
    this.declared.set(queue, sentAt);
  }

  private open(): Promise<AMQPChannel> {
    if (this.channel) return Promise.resolve(this.channel);
    if (this.closed) return Promise.reject(new PublishClosedError());
    this.opening ??= this.openChannel().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async openChannel(): Promise<AMQPChannel> {
    const model = await this.connect();
    const channel = await model.createChannel();
    channel.on("error", (error: Error) => this.logger.debug(failureFields(error), "topology channel error"));
    channel.on("close", () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.declared.clear();
    });
    this.channel = channel;
    return channel;
  }

  /** The vhost's connection, or `PublishNotSentError` when there is none within the timeout. */
  private async connect(): Promise<AMQPConnection> {
    if (this.closed) throw new PublishClosedError();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PublishNotSentError(
              "no-connection",
              `no connection to the broker to declare a queue within ${this.timeoutMs} ms; nothing was sent`,
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([this.connection.connect(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
