import { randomUUID } from "node:crypto";
import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys, nonEmptyString } from "../../core/validate.js";
import { SQSPublishError } from "./errors.js";
import { SQS_ATTRIBUTES } from "./message.js";
import { checkQueueName } from "./names.js";
import { isFifo, type SQSPort } from "./port.js";

/** `app.sqs.publish(body, options)`. */
export interface SQSPublishOptions {
  /**
   * The queue's name or URL. A name must be one SQS takes (1 to 80 letters, digits, `-` and `_`,
   * `.fifo` ending a FIFO queue's), else `WEIR_ERR_INVALID_OPTION` before anything is sent.
   */
  queue: string;
  /** FIFO queues (required there): the group whose order SQS keeps. */
  messageGroupId?: string;
  /**
   * FIFO queues: SQS drops a second message with the same id within 5 minutes.
   * @defaultValue a random UUID (no deduplication) unless the queue has content-based deduplication
   */
  deduplicationId?: string;
  /** The sender's id (attribute `weir-message-id`): the default `once` key of the consuming route. */
  messageId?: string;
  /** String message attributes (SQS keeps at most 10 in all). */
  headers?: Record<string, string>;
  /** ms before the message is visible, rounded up to seconds, at most 900 000 (standard queues only). */
  delay?: number;
}

/** What `app.sqs` offers. */
export interface SQSAppClient {
  /**
   * Sends `body` as JSON to a queue; resolves with SQS's `MessageId` once SQS has it.
   *
   * Rejects with `SQSPublishError` (`WEIR_ERR_SQS_PUBLISH`) whenever SQS does not take the message:
   * refused, out of reach, or the queue does not exist. For a missing queue `error.queueMissing` is
   * true and the message says so: a route's `declare: true` creates its queue only when the app
   * consuming it starts, so publish after that `start()` or create the queue first. Rejects with
   * `InvalidOptionError` (`WEIR_ERR_INVALID_OPTION`) for misuse, before sending: a queue name SQS
   * would refuse, a FIFO queue without `messageGroupId`, a `delay` out of range.
   */
  publish(body: unknown, options: SQSPublishOptions): Promise<string>;
}

const KEYS = ["queue", "messageGroupId", "deduplicationId", "messageId", "headers", "delay"];

/** Sends one message through `port` (created on first use). */
export async function publishTo(
  port: () => Promise<SQSPort>,
  body: unknown,
  options: SQSPublishOptions,
): Promise<string> {
  knownKeys("publish", options, KEYS);
  const queue = nonEmptyString("queue", options?.queue);
  checkQueueName("queue", queue);
  const fifo = isFifo(queue);
  if (fifo && options.messageGroupId === undefined) {
    throw new InvalidOptionError("messageGroupId", `is required to publish to the FIFO queue ${queue}`);
  }
  if (
    options.delay !== undefined &&
    (!Number.isFinite(options.delay) || options.delay < 0 || options.delay > 900_000)
  ) {
    throw new InvalidOptionError("delay", `must be 0 to 900 000 ms, got ${String(options.delay)}`);
  }
  const attributes: Record<string, string> = { ...options.headers };
  if (options.messageId !== undefined) attributes[SQS_ATTRIBUTES.messageId] = options.messageId;
  const text = JSON.stringify(body ?? null);
  try {
    const sqs = await port();
    const url = await sqs.queueUrl(queue);
    return await sqs.send(url, text, {
      attributes,
      groupId: options.messageGroupId,
      deduplicationId: fifo ? (options.deduplicationId ?? randomUUID()) : undefined,
      delaySeconds: options.delay === undefined ? undefined : Math.ceil(options.delay / 1000),
    });
  } catch (error) {
    throw new SQSPublishError(queue, { cause: error });
  }
}
