import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeBody, UNDECODABLE } from "../../core/codec/body.js";
import type { Logger } from "../../core/logger.js";
import type { VhostConnection } from "./connection.js";
import type { AMQPChannel, ConsumeMessage, Message, Options } from "./port.js";
import { PublishClosedError, unroutable } from "./publish-errors.js";
import { isAccessRefusal } from "./refusal.js";
import {
  RemoteError,
  type RemoteErrorBody,
  RequestLostError,
  RequestTimeoutError,
} from "./request-errors.js";

/**
 * RabbitMQ's direct reply-to pseudo-queue: a channel that consumes it (no-ack) may publish with
 * `replyTo` set to it, and replies published to the name the broker substitutes come straight back
 * to that channel, with no queue declared (https://www.rabbitmq.com/docs/direct-reply-to).
 */
export const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

/** The header a serving route sets on a reply that carries a failure (its value: the error's code). */
export const REPLY_ERROR_HEADER = "x-weir-error";

/** One request waiting for its reply. */
interface Pending {
  readonly exchange: string;
  readonly routingKey: string;
  readonly timeout: number;
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** The channel it was written on; undefined while it waits for one. */
  channel: AMQPChannel | undefined;
}

/**
 * Sends requests on one vhost and waits for their replies, over RabbitMQ's direct reply-to: one
 * channel on the publishing connection consumes `amq.rabbitmq.reply-to`, every request is published
 * on that channel with a fresh `correlationId`, and each reply is matched to its caller by it. Many
 * requests share the channel; a reply whose caller has given up (timed out) matches nothing and is
 * dropped, so it can never reach another caller.
 *
 * Requests are `mandatory`: one no queue is bound for comes back (basic.return) and rejects at once
 * with `WEIR_ERR_PUBLISH_UNROUTABLE`. They are not confirmed: the reply is the confirmation, and
 * the timeout bounds everything (the connection, a broker alarm, the server's work).
 */
export class Requester {
  private channel: AMQPChannel | undefined;
  private opening: Promise<AMQPChannel> | undefined;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  constructor(
    private readonly connection: VhostConnection,
    private readonly logger: Logger,
  ) {}

  /** Requests waiting for a reply, for `health()`. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Publishes a request and resolves with the decoded reply (JSON for JSON media types, else the
   * bytes). Rejects with `WEIR_ERR_REQUEST_TIMEOUT`, `WEIR_ERR_PUBLISH_UNROUTABLE`,
   * `WEIR_ERR_REQUEST_LOST`, `WEIR_ERR_REMOTE` (the server's handler failed) or
   * `WEIR_ERR_PUBLISH_CLOSED` (the app stopped).
   */
  request(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    timeout: number,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new PublishClosedError());
    const correlationId = randomUUID();
    return new Promise<unknown>((resolve, reject) => {
      const pending: Pending = {
        exchange,
        routingKey,
        timeout,
        resolve,
        reject,
        timer: setTimeout(() => this.expire(correlationId), timeout),
        channel: undefined,
      };
      this.pending.set(correlationId, pending);
      const message = { ...properties, correlationId, replyTo: DIRECT_REPLY_TO, mandatory: true };
      const channel = this.channel;
      if (channel === undefined || !this.write(channel, pending, exchange, routingKey, content, message)) {
        void this.send(correlationId, pending, content, message);
      }
    });
  }

  /** Fails every waiting request (`WEIR_ERR_PUBLISH_CLOSED` if unsent, else `..._REQUEST_LOST`), closes the channel. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [id, pending] of this.pending) {
      this.settle(
        id,
        pending.channel === undefined ? new PublishClosedError() : new RequestLostError("the app stopped"),
      );
    }
    const channel = this.channel;
    this.channel = undefined;
    if (channel !== undefined) await channel.close().catch(() => {});
  }

  /** Waits for the reply channel (through reconnects), then writes; the request's timer bounds it. */
  private async send(
    correlationId: string,
    pending: Pending,
    content: Buffer,
    properties: Options.Publish,
  ): Promise<void> {
    while (this.pending.get(correlationId) === pending && !this.closed) {
      let channel: AMQPChannel;
      try {
        channel = await this.ensureChannel();
      } catch (error) {
        if (isAccessRefusal(error)) {
          this.settle(correlationId, error as Error);
          return;
        }
        await sleep(50);
        continue;
      }
      if (this.pending.get(correlationId) !== pending) return;
      if (this.write(channel, pending, pending.exchange, pending.routingKey, content, properties)) return;
    }
  }

  /** Writes a request; false when the channel turned out closed (nothing was written). */
  private write(
    channel: AMQPChannel,
    pending: Pending,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
  ): boolean {
    try {
      channel.publish(exchange, routingKey, content, properties);
    } catch (error) {
      if (error instanceof Error && error.name === "IllegalOperationError") {
        if (this.channel === channel) this.channel = undefined;
        return false;
      }
      throw error;
    }
    pending.channel = channel;
    return true;
  }

  private ensureChannel(): Promise<AMQPChannel> {
    if (this.channel !== undefined) return Promise.resolve(this.channel);
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<AMQPChannel> {
    const model = await this.connection.connect();
    const channel = await model.createChannel();
    channel.on("error", (error) => this.logger.warn({ err: error }, "request channel closed by the broker"));
    channel.on("close", () => this.channelClosed(channel));
    channel.on("return", (message: Message) => this.returned(message));
    // A direct reply-to consumer must be no-ack (RabbitMQ refuses it otherwise).
    await channel.consume(DIRECT_REPLY_TO, (message) => this.replied(message), { noAck: true });
    if (this.closed) {
      await channel.close().catch(() => {});
      throw new PublishClosedError();
    }
    this.channel = channel;
    return channel;
  }

  private replied(message: ConsumeMessage | null): void {
    if (message === null) return; // the broker cancelled the consumer: the channel's close follows
    const correlationId = message.properties.correlationId;
    const pending = typeof correlationId === "string" ? this.pending.get(correlationId) : undefined;
    if (pending === undefined) {
      this.logger.debug(
        { correlationId },
        "a reply arrived for no waiting request (it timed out, or was never sent from here): dropped",
      );
      return;
    }
    const { content, properties } = message;
    const decoded = decodeBody(content, properties.contentType, properties.contentEncoding);
    const body = decoded === UNDECODABLE ? content : decoded;
    if (properties.headers?.[REPLY_ERROR_HEADER] !== undefined) {
      this.settle(
        correlationId as string,
        new RemoteError(remoteErrorBody(body), pending.exchange, pending.routingKey),
      );
    } else {
      this.settle(correlationId as string, undefined, body);
    }
  }

  /** basic.return: the request reached no queue; its correlation id names it. */
  private returned(message: Message): void {
    const correlationId = message.properties.correlationId;
    if (typeof correlationId !== "string" || !this.pending.has(correlationId)) return;
    const { exchange, routingKey, replyCode, replyText } = message.fields as Message["fields"] & {
      replyCode: number;
      replyText: string;
    };
    this.settle(correlationId, unroutable(replyCode, replyText, exchange, routingKey));
  }

  /** Requests written on a channel that closed can no longer get their reply. */
  private channelClosed(channel: AMQPChannel): void {
    if (this.channel === channel) this.channel = undefined;
    for (const [id, pending] of this.pending) {
      if (pending.channel === channel)
        this.settle(id, new RequestLostError("the connection or channel closed"));
    }
  }

  private expire(correlationId: string): void {
    const pending = this.pending.get(correlationId);
    if (pending === undefined) return;
    const blocked = this.connection.blocked;
    const detail =
      blocked !== undefined
        ? ` (the broker blocks publishing: ${blocked.reason})`
        : pending.channel === undefined
          ? " (no connection to the broker: the request was not sent)"
          : "";
    this.settle(
      correlationId,
      new RequestTimeoutError(pending.exchange, pending.routingKey, pending.timeout, detail),
    );
  }

  private settle(correlationId: string, error: Error | undefined, reply?: unknown): void {
    const pending = this.pending.get(correlationId);
    if (pending === undefined) return;
    this.pending.delete(correlationId);
    clearTimeout(pending.timer);
    if (error === undefined) pending.resolve(reply);
    else pending.reject(error);
  }
}

/** A failure reply's body, whatever the server sent (another client may send less). */
function remoteErrorBody(body: unknown): RemoteErrorBody {
  const given = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  return {
    code: typeof given.code === "string" ? given.code : null,
    name: typeof given.name === "string" ? given.name : "Error",
    message: typeof given.message === "string" ? given.message : "the remote handler failed",
    ...(typeof given.stack === "string" && { stack: given.stack }),
  };
}
