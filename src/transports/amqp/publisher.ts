import type { ConfirmChannel, Options } from "amqplib";
import { PublishError } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import type { VhostConnection } from "./connection.js";

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
  /** Message headers. */
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

/**
 * Publishes on one vhost through a confirm channel: a publish resolves only once the broker has
 * taken responsibility for the message (publisher confirm), and rejects with a coded error on a
 * nack, a timeout, or a channel that closed before the confirm. It never drops silently: during an
 * outage it waits for the connection, up to the timeout.
 */
export class Publisher {
  private channel: ConfirmChannel | undefined;
  private opening: Promise<ConfirmChannel> | undefined;

  constructor(
    private readonly connection: VhostConnection,
    private readonly logger: Logger,
  ) {}

  async publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let channel: ConfirmChannel | undefined;
      try {
        channel = this.channel ?? (await this.openChannel(deadline));
        return await this.publishOn(
          channel,
          exchange,
          routingKey,
          content,
          properties,
          deadline - Date.now(),
        );
      } catch (error) {
        // The channel died before the message was written: it was never sent, so it is safe to
        // send it on the next channel. A channel that died after the write rejects (unconfirmed).
        if (!(error instanceof NotSent) || Date.now() >= deadline) throw unwrap(error);
        if (channel !== undefined && this.channel === channel) this.channel = undefined;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
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

  private publishOn(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    timeoutMs: number,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new PublishError("WEIR_ERR_PUBLISH_TIMEOUT", `no confirm from the broker within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      try {
        channel.publish(exchange, routingKey, content, properties, (error) => {
          clearTimeout(timer);
          if (!error) resolve();
          else if (/nack/i.test(String((error as Error).message ?? error))) {
            reject(
              new PublishError("WEIR_ERR_PUBLISH_NACK", "the broker refused the message (nack)", {
                cause: error,
              }),
            );
          } else {
            reject(
              new PublishError(
                "WEIR_ERR_PUBLISH_UNCONFIRMED",
                "the channel closed before the broker confirmed the message; it may or may not have been stored",
                { cause: error },
              ),
            );
          }
        });
      } catch (error) {
        clearTimeout(timer);
        reject(isChannelGone(error) ? new NotSent(error) : error);
      }
    });
  }

  private async openChannel(deadline: number): Promise<ConfirmChannel> {
    this.opening ??= (async () => {
      const model = await this.connection.connect();
      const channel = await model.createConfirmChannel();
      channel.on("error", (error: Error) =>
        this.logger.warn({ err: error.message }, "publish channel error"),
      );
      channel.on("close", () => {
        if (this.channel === channel) this.channel = undefined;
      });
      this.channel = channel;
      return channel;
    })().finally(() => {
      this.opening = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PublishError(
              "WEIR_ERR_PUBLISH_TIMEOUT",
              "no connection to the broker within the publish timeout",
            ),
          ),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([this.opening, timeout]);
    } catch (error) {
      if (error instanceof PublishError) throw error;
      if (this.connection.isClosed) {
        throw new PublishError("WEIR_ERR_PUBLISH_CLOSED", "cannot publish: the connection is closed", {
          cause: error,
        });
      }
      throw new NotSent(error);
    } finally {
      clearTimeout(timer);
    }
  }
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
