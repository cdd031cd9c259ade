import type { WeirDeadLetterReason } from "../../../core/consume/dead-letter-reason.js";
import type { SchemaIssue } from "../../../core/schema.js";
import { headersToRepublish } from "../field-table/decode.js";
import type { MessageProperties, Options } from "../port.js";

/**
 * The headers weir writes on retried and dead-lettered messages. The attempt count lives here, on
 * the message itself, so it survives worker restarts and is shared by every consumer of the queue
 * (an in-process counter, FastStream's, loops forever and counts per worker: faststream #1657).
 */
export const WeirHeaders = {
  /** How many times the handler has failed on this message so far (0 or absent: never). */
  ATTEMPTS: "x-weir-attempts",
  /** When the first failure happened (ISO-8601). */
  FIRST_FAILURE: "x-weir-first-failure",
  /** When the latest failure happened (ISO-8601). */
  LAST_FAILURE: "x-weir-last-failure",
  /** The latest error's message, truncated to 1,024 characters. */
  ERROR: "x-weir-error",
  /** The latest error's `code` (a `WEIR_ERR_*` code, or e.g. `ECONNREFUSED`), else its class name. */
  ERROR_CODE: "x-weir-error-code",
  /** Why the message was dead-lettered (see {@link DeadLetterReason}). */
  REASON: "x-weir-reason",
  /** The queue the message was consumed from, and where a replay sends it back. */
  ORIGINAL_QUEUE: "x-weir-original-queue",
  /** The schema's issues as JSON (`[{ path, message }]`), truncated to 4,096 characters. */
  ISSUES: "x-weir-issues",
  /** How many times the message was replayed from a dead-letter queue. */
  REPLAYS: "x-weir-replays",
} as const;

/**
 * Why a message is in a dead-letter queue (`x-weir-reason`): weir's categories, the same on every
 * transport, or one of the broker's own.
 */
export type DeadLetterReason =
  | WeirDeadLetterReason
  /**
   * Not weir's: the broker dead-lettered it, returned unacked more than the quorum queue's
   * `x-delivery-limit` times (`x-first-death-reason: delivery_limit`); it has no `x-weir-*` headers
   * of that failure. Read from a dead-letter queue only (docs/retries.md, "Quorum queues").
   */
  | "delivery-limit";

const MAX_ERROR_LENGTH = 1024;
const MAX_ISSUES_LENGTH = 4096;

/** Headers the broker adds when it dead-letters a message (our delay queues expire into the route). */
const BROKER_DEATH_HEADERS = [
  "x-death",
  "x-first-death-exchange",
  "x-first-death-queue",
  "x-first-death-reason",
  "x-last-death-exchange",
  "x-last-death-queue",
  "x-last-death-reason",
  // A quorum queue's count of this copy's deliveries: folded into x-weir-attempts when weir
  // republishes, so the copy must not carry it into its next queue.
  "x-delivery-count",
];

const WEIR_HEADER_NAMES: readonly string[] = Object.values(WeirHeaders);

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** How many times the handler failed on a message before this delivery, read from its headers. */
export function attemptsOf(headers: Record<string, unknown> | undefined): number {
  const value = headers?.[WeirHeaders.ATTEMPTS];
  const count = typeof value === "number" ? value : typeof value === "string" ? Number(value) : 0;
  return Number.isSafeInteger(count) && count > 0 ? count : 0;
}

/** The message and code an error is recorded with; anything thrown is accepted. */
export function describeError(error: unknown): { message: string; code: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      message: truncate(error.message || error.name, MAX_ERROR_LENGTH),
      code: typeof code === "string" || typeof code === "number" ? String(code) : error.name,
    };
  }
  return { message: truncate(String(error), MAX_ERROR_LENGTH), code: "non-error" };
}

/**
 * The message's own headers, each with the AMQP type it was received with (`headersToRepublish`:
 * a retry or a dead letter sends a 64-bit integer or a 32-bit int back as it came), without what
 * the broker added when it dead-lettered it.
 */
function ownHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...headersToRepublish(headers) };
  for (const name of BROKER_DEATH_HEADERS) delete copy[name];
  return copy;
}

/** Headers of a message that failed and goes to a delay queue (or a dead-letter queue). */
export function failureHeaders(
  headers: Record<string, unknown> | undefined,
  attempts: number,
  error: unknown,
  now: Date,
): Record<string, unknown> {
  const next = ownHeaders(headers);
  const { message, code } = describeError(error);
  const at = now.toISOString();
  next[WeirHeaders.ATTEMPTS] = attempts;
  if (typeof next[WeirHeaders.FIRST_FAILURE] !== "string") next[WeirHeaders.FIRST_FAILURE] = at;
  next[WeirHeaders.LAST_FAILURE] = at;
  next[WeirHeaders.ERROR] = message;
  next[WeirHeaders.ERROR_CODE] = code;
  return next;
}

/** Headers of a message that goes to a dead-letter queue. */
export function deadLetterHeaders(
  headers: Record<string, unknown> | undefined,
  details: {
    attempts: number;
    error: unknown;
    reason: DeadLetterReason;
    queue: string;
    issues?: readonly SchemaIssue[] | undefined;
    now: Date;
  },
): Record<string, unknown> {
  const next = failureHeaders(headers, details.attempts, details.error, details.now);
  next[WeirHeaders.REASON] = details.reason;
  next[WeirHeaders.ORIGINAL_QUEUE] = details.queue;
  if (details.issues !== undefined) {
    next[WeirHeaders.ISSUES] = truncate(JSON.stringify(details.issues), MAX_ISSUES_LENGTH);
  }
  return next;
}

/** Headers of a replayed message: a fresh start (no attempts, no errors), one more replay. */
export function replayHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const replays = attemptsOf({ [WeirHeaders.ATTEMPTS]: headers?.[WeirHeaders.REPLAYS] });
  const next = ownHeaders(headers);
  for (const name of WEIR_HEADER_NAMES) delete next[name];
  next[WeirHeaders.REPLAYS] = replays + 1;
  return next;
}

/**
 * The properties to republish a delivery with: all of its own except `expiration` (it was meant
 * for its first queue; a republish would restart its clock) and `userId` (the broker refuses a
 * user-id that is not the publishing connection's, and closes the channel).
 */
export function republishProperties(
  properties: MessageProperties,
  headers: Record<string, unknown>,
): Options.Publish {
  const publish: Options.Publish = { headers };
  if (properties.contentType !== undefined) publish.contentType = properties.contentType;
  if (properties.contentEncoding !== undefined) publish.contentEncoding = properties.contentEncoding;
  if (properties.deliveryMode !== undefined) publish.deliveryMode = properties.deliveryMode;
  if (properties.priority !== undefined) publish.priority = properties.priority;
  if (properties.correlationId !== undefined) publish.correlationId = properties.correlationId;
  if (properties.replyTo !== undefined) publish.replyTo = properties.replyTo;
  if (properties.messageId !== undefined) publish.messageId = properties.messageId;
  if (properties.timestamp !== undefined) publish.timestamp = properties.timestamp;
  if (properties.type !== undefined) publish.type = properties.type;
  if (properties.appId !== undefined) publish.appId = properties.appId;
  return publish;
}
