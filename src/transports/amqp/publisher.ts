import { withTimeout } from "../../core/deadline.js";
import { PublishError } from "../../core/errors.js";
import { InspectOnlyError } from "../../core/inspect.js";
import { failureFields, type Logger } from "../../core/logger.js";
import type { VhostConnection } from "./connection.js";
import type { AMQPConfirmChannel, Options } from "./port.js";
import { isAccessRefusal } from "./refusal.js";

/** What to publish and where (`app.amqp.publish(body, options)`). */
export interface PublishOptions {
  /**
   * The routing key; with the default exchange, the queue name.
   * @defaultValue ""
   */
  routingKey?: string;
  /**
   * The exchange; `""` is the default exchange, which routes by queue name.
   * @defaultValue ""
   */
  exchange?: string;
  /**
   * The vhost to publish on.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Message headers. A `Date` travels as an AMQP timestamp (whole seconds), a `bigint` as a signed
   * 64-bit long, nested objects and arrays as tables and arrays (docs/amqp.md, "Headers"); a value
   * that cannot travel unchanged rejects the publish with a `HeaderValueError`
   * (`WEIR_ERR_PUBLISH_HEADER`) before anything is sent.
   */
  headers?: Record<string, unknown>;
  /**
   * Ask the broker to write the message to disk (delivery mode 2).
   * @defaultValue true
   */
  persistent?: boolean;
  /** The AMQP `message-id` property (used by `once` dedup when present). */
  messageId?: string;
  /** The AMQP `correlation-id` property. */
  correlationId?: string;
  /**
   * Content type. Objects are always sent as JSON.
   * @defaultValue "application/json" for objects, "application/octet-stream" for Buffers
   */
  contentType?: string;
  /** Per-message TTL in ms. */
  expiration?: number;
  /** Message priority (queues declared with `x-max-priority`). */
  priority?: number;
  /**
   * How long to wait for a connection and the broker's confirm (ms).
   * @defaultValue the app's `amqp.publishTimeout` (10000)
   */
  timeout?: number;
}

/** Encodes a body: Buffers go as they are, anything else as JSON. */
export function encodeBody(
  body: unknown,
  contentType: string | undefined,
): { content: Buffer; contentType: string } {
  if (Buffer.isBuffer(body)) return { content: body, contentType: contentType ?? "application/octet-stream" };
  return { content: Buffer.from(JSON.stringify(body)), contentType: contentType ?? "application/json" };
}

function isChannelGone(error: unknown): boolean {
  return error instanceof Error && /closed/i.test(error.message);
}

function confirmError(error: unknown): PublishError {
  if (/nack/i.test(String((error as Error).message ?? error))) {
    return new PublishError("WEIR_ERR_PUBLISH_NACK", "the broker refused the message (nack)", {
      cause: error,
    });
  }
  return new PublishError(
    "WEIR_ERR_PUBLISH_UNCONFIRMED",
    "the channel closed before the broker confirmed the message; it may or may not have been stored",
    { cause: error },
  );
}

/** A publish written to the channel, waiting for the broker's confirm or its deadline. */
interface PendingConfirm {
  resolve(): void;
  reject(error: Error): void;
  deadline: number;
  done: boolean;
}

/**
 * Publishes on one vhost through a confirm channel: a publish resolves only once the broker has
 * taken responsibility for the message (publisher confirm), and rejects with a coded error on a
 * nack, a timeout, or a channel that closed before the confirm. It never drops silently: during an
 * outage it waits for the connection, up to the timeout.
 *
 * Publishing is a hot path (a window of thousands of unconfirmed messages), so a publish on a live
 * channel runs without the retry loop's async frame, and confirm deadlines share one timer instead
 * of arming one per message.
 */
export class Publisher {
  private channel: AMQPConfirmChannel | undefined;
  private opening: Promise<AMQPConfirmChannel> | undefined;
  /** Unconfirmed publishes in publish order; confirms mostly arrive in that order too. */
  private pending: PendingConfirm[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (ms epoch); Infinity when it is not armed. */
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly onTimer = (): void => this.expire();

  constructor(
    private readonly connection: VhostConnection,
    private readonly logger: Logger,
  ) {}

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const channel = this.channel;
    if (channel !== undefined)
      return this.publishOn(channel, exchange, routingKey, content, properties, deadline);
    return this.publishWhenOpen(exchange, routingKey, content, properties, deadline);
  }

  /** Waits for outstanding confirms (bounded), then closes the channel. */
  async close(timeoutMs: number): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    if (!channel) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      channel.waitForConfirms().catch(() => {}),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await channel.close().catch(() => {});
  }

  /** Opens a channel first (waiting for the connection, up to the deadline), then publishes. */
  private async publishWhenOpen(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    deadline: number,
  ): Promise<void> {
    for (;;) {
      let channel: AMQPConfirmChannel;
      try {
        channel = this.channel ?? (await this.openChannel(deadline));
      } catch (error) {
        if (!(error instanceof NotSent) || Date.now() >= deadline) throw unwrap(error);
        await sleep(50);
        continue;
      }
      return this.publishOn(channel, exchange, routingKey, content, properties, deadline);
    }
  }

  private publishOn(
    channel: AMQPConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    deadline: number,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: PendingConfirm = { resolve, reject, deadline, done: false };
      try {
        channel.publish(exchange, routingKey, content, properties, (error) => this.confirmed(pending, error));
      } catch (error) {
        if (!isChannelGone(error)) {
          reject(error);
          return;
        }
        // The channel died before the message was written: it was never sent, so it is safe to
        // send it on the next channel. A channel that dies after the write rejects (unconfirmed).
        if (this.channel === channel) this.channel = undefined;
        resolve(this.resend(error, exchange, routingKey, content, properties, deadline));
        return;
      }
      this.pending.push(pending);
      if (deadline < this.timerAt) this.arm(deadline);
    });
  }

  private async resend(
    cause: unknown,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    deadline: number,
  ): Promise<void> {
    if (Date.now() >= deadline) throw unwrap(new NotSent(cause));
    await sleep(50);
    return this.publishWhenOpen(exchange, routingKey, content, properties, deadline);
  }

  private confirmed(pending: PendingConfirm, error: unknown): void {
    // Already rejected by its deadline: a late confirm changes nothing for the caller.
    if (pending.done) return;
    pending.done = true;
    this.compact();
    if (error) pending.reject(confirmError(error));
    else pending.resolve();
  }

  /** Drops settled entries from the front of `pending`, and the timer once nothing is left. */
  private compact(): void {
    const pending = this.pending;
    let head = this.head;
    while (head < pending.length && pending[head]!.done) head++;
    if (head === pending.length) {
      this.pending = [];
      this.head = 0;
      if (this.timer !== undefined) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
      }
      return;
    }
    // Copy the live tail only once the dead prefix outweighs it: amortised O(1) per confirm.
    if (head > 1024 && head * 2 > pending.length) {
      this.pending = pending.slice(head);
      head = 0;
    }
    this.head = head;
  }

  /** Rejects every publish whose deadline passed, then re-arms for the earliest one left. */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (let i = this.head; i < this.pending.length; i++) {
      const pending = this.pending[i]!;
      if (pending.done) continue;
      if (pending.deadline <= now) {
        pending.done = true;
        pending.reject(
          new PublishError(
            "WEIR_ERR_PUBLISH_TIMEOUT",
            "no confirm from the broker within the publish timeout",
          ),
        );
      } else if (pending.deadline < next) {
        next = pending.deadline;
      }
    }
    this.compact();
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - Date.now()));
  }

  private async openChannel(deadline: number): Promise<AMQPConfirmChannel> {
    this.opening ??= (async () => {
      const model = await this.connection.connect();
      const channel = await model.createConfirmChannel();
      channel.on("error", (error: Error) => this.logger.warn(failureFields(error), "publish channel error"));
      channel.on("close", () => {
        if (this.channel === channel) this.channel = undefined;
      });
      this.channel = channel;
      return channel;
    })().finally(() => {
      this.opening = undefined;
    });
    try {
      return await withTimeout(this.opening, deadline - Date.now(), connectTimeout);
    } catch (error) {
      // Neither a refusal of the credentials or the vhost nor inspect-only mode changes by waiting:
      // fail the publish now instead of retrying until its deadline.
      if (error instanceof PublishError || error instanceof InspectOnlyError || isAccessRefusal(error)) {
        throw error;
      }
      if (this.connection.isClosed) {
        throw new PublishError("WEIR_ERR_PUBLISH_CLOSED", "cannot publish: the connection is closed", {
          cause: error,
        });
      }
      throw new NotSent(error);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Internal marker: the publish failed before anything reached the socket. */
class NotSent extends Error {
  constructor(readonly original: unknown) {
    super("not sent");
  }
}

function unwrap(error: unknown): unknown {
  if (error instanceof NotSent) {
    return new PublishError("WEIR_ERR_PUBLISH_TIMEOUT", "no open channel to publish on within the timeout", {
      cause: error.original,
    });
  }
  return error;
}

/** No connection (or no channel on it) before the publish deadline. */
export function connectTimeout(): PublishError {
  return new PublishError(
    "WEIR_ERR_PUBLISH_TIMEOUT",
    "no connection to the broker within the publish timeout",
  );
}
