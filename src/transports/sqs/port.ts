/**
 * What the SQS transport asks of SQS, as one narrow interface: the AWS SDK implements it
 * (./aws-port.ts, loaded on start) and weir/testing implements it in memory (./testing/memory-sqs.ts).
 * Every call may reject; the caller decides what a failure means (retry the receive, leave the
 * message to come back after its visibility timeout).
 */

/** One message as a receive returns it. */
export interface SQSReceived {
  /** SQS's `MessageId`. */
  readonly id: string;
  /** The `ReceiptHandle` of this receive: what delete and visibility changes name. */
  readonly receipt: string;
  readonly body: string;
  /** `ApproximateReceiveCount`: 1 on the first receive. */
  readonly receiveCount: number;
  /** `MessageGroupId` on a FIFO queue. */
  readonly groupId: string | undefined;
  /** String message attributes (weir's headers). */
  readonly attributes: Readonly<Record<string, string>>;
}

/** What a send carries besides the body. */
export interface SQSSendOptions {
  /** FIFO queues: the group whose order is kept. */
  readonly groupId?: string | undefined;
  /** FIFO queues: the deduplication id (else the queue's content-based deduplication). */
  readonly deduplicationId?: string | undefined;
  /** String message attributes (at most 10 with SQS). */
  readonly attributes?: Readonly<Record<string, string>> | undefined;
  /** Seconds before the message is visible (0-900; not per message on FIFO queues). */
  readonly delaySeconds?: number | undefined;
}

export interface SQSReceiveOptions {
  /** 1-10. */
  readonly max: number;
  /** Long polling: 0-20 s. */
  readonly waitSeconds: number;
  /** The visibility timeout of what this receive returns, s; else the queue's. */
  readonly visibilitySeconds?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface SQSPort {
  /** The URL of a queue given by name or URL (a URL is returned as it is). */
  queueUrl(nameOrUrl: string): Promise<string>;
  /** Creates the queue if missing (`CreateQueue` is idempotent for the same attributes); its URL. */
  createQueue(name: string, attributes?: Readonly<Record<string, string>>): Promise<string>;
  receive(url: string, options: SQSReceiveOptions): Promise<SQSReceived[]>;
  /** Deletes by receipt handle, batched by 10; resolves with the receipts SQS did not delete. */
  delete(url: string, receipts: readonly string[]): Promise<string[]>;
  /** Changes the visibility timeout (s) of received messages, batched by 10. */
  changeVisibility(url: string, entries: ReadonlyArray<{ receipt: string; seconds: number }>): Promise<void>;
  /** Sends one message; resolves with its `MessageId`. */
  send(url: string, body: string, options: SQSSendOptions): Promise<string>;
  /** Queue attributes (`GetQueueAttributes`). */
  attributes(url: string, names: readonly string[]): Promise<Record<string, string>>;
  /** Deletes every message of the queue (`PurgeQueue`). */
  purge(url: string): Promise<void>;
  /** Releases the HTTP connections. */
  close(): void;
}

/** Whether `nameOrUrl` is a queue URL rather than a name. */
export function isQueueUrl(nameOrUrl: string): boolean {
  return nameOrUrl.startsWith("http://") || nameOrUrl.startsWith("https://");
}

/** The queue's name: the last path segment of its URL, or the name itself. */
export function queueNameOf(nameOrUrl: string): string {
  if (!isQueueUrl(nameOrUrl)) return nameOrUrl;
  const path = new URL(nameOrUrl).pathname.split("/").filter((part) => part !== "");
  return path[path.length - 1] ?? nameOrUrl;
}

/**
 * Whether an SQS call failed because the queue does not exist: the SDK's `QueueDoesNotExist`
 * (`AWS.SimpleQueueService.NonExistentQueue` in SQS's query-compatible form).
 */
export function isQueueMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return typeof name === "string" && /(^|\.)(QueueDoesNotExist|NonExistentQueue)$/.test(name);
}

/** FIFO queues are the ones whose name ends in `.fifo`. */
export function isFifo(nameOrUrl: string): boolean {
  return queueNameOf(nameOrUrl).endsWith(".fifo");
}

/** Splits `items` in chunks of SQS's batch limit (10). */
export function batches<T>(items: readonly T[], size = 10): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
