import { decodeBodyResult } from "../../core/codec/body.js";
import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys, positiveInteger } from "../../core/validate.js";
import { DEAD_LETTER_HEADERS, type NATSDeadLetterReason } from "./forwarding.js";
import type { NATSPort, StoredMessage } from "./port.js";
import {
  deadLetterStreamOf,
  deadLetterSubjectOf,
  type NATSDeadLetterOptions,
  type ResolvedNATSDeadLetter,
} from "./route-spec.js";

/** One dead letter of a NATS route, as `app.nats.deadLetters` lists it. */
export interface NATSDeadLetter {
  /** Its sequence in the dead-letter stream. */
  readonly seq: number;
  /** The stream it came from. */
  readonly stream: string;
  /** The subject it was published to (where `replay` sends it back). */
  readonly subject: string;
  /** The body, decoded as the route decodes it (the raw text when it does not decode). */
  readonly body: unknown;
  /**
   * Why, as on the other transports (`x-weir-reason`): `max-attempts`, `unrecoverable`,
   * `dead-lettered`, `invalid-json`, `undecodable`, `schema`; undefined for a message weir did not
   * put there (or one dead-lettered before weir recorded it).
   */
  readonly reason: NATSDeadLetterReason | undefined;
  /** The last error's message (`x-weir-error`) and code (`x-weir-error-code`). */
  readonly error: string | undefined;
  readonly code: string | undefined;
  /** JetStream's delivery count when it was dead-lettered. */
  readonly attempts: number | undefined;
  /** ISO 8601. */
  readonly deadLetteredAt: string | undefined;
  /** Its headers, the original message's and weir's (`x-weir-*`). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Options of `deadLetters`, `replay` and `purgeDeadLetters`. */
export interface NATSDeadLetterQuery {
  /**
   * At most this many (oldest first).
   * @defaultValue 100 for `deadLetters`, all for `replay`
   */
  limit?: number;
  /** The route's `deadLetter` option, when it names its own stream or subject. */
  deadLetter?: NATSDeadLetterOptions;
}

/** Options of `replay`. */
export interface NATSReplayOptions extends NATSDeadLetterQuery {
  /** Replays only the dead letters it returns true for; the others stay. */
  filter?: (letter: NATSDeadLetter) => boolean;
}

function resolved(query: NATSDeadLetterQuery | undefined): ResolvedNATSDeadLetter {
  knownKeys("deadLetters", query, ["limit", "deadLetter", "filter"]);
  const given = query?.deadLetter ?? {};
  if (typeof given !== "object" || given === null) {
    throw new InvalidOptionError("deadLetter", "must be { stream?, subject? }");
  }
  return { stream: given.stream, subject: given.subject };
}

const REASONS: ReadonlySet<string> = new Set<NATSDeadLetterReason>([
  "max-attempts",
  "unrecoverable",
  "dead-lettered",
  "invalid-json",
  "undecodable",
  "schema",
]);

function reasonHeader(value: string | undefined): NATSDeadLetterReason | undefined {
  return value !== undefined && REASONS.has(value) ? (value as NATSDeadLetterReason) : undefined;
}

function letterOf(stream: string, stored: StoredMessage): NATSDeadLetter {
  const h = stored.headers;
  const content = Buffer.from(stored.data.buffer, stored.data.byteOffset, stored.data.byteLength);
  const decoded = decodeBodyResult(
    content,
    h["Content-Type"] || undefined,
    h["Content-Encoding"] || undefined,
  );
  const attempts = Number(h[DEAD_LETTER_HEADERS.attempts]);
  return {
    seq: stored.seq,
    stream: h[DEAD_LETTER_HEADERS.stream] ?? stream,
    subject: h[DEAD_LETTER_HEADERS.subject] ?? stored.subject,
    body: decoded.ok ? decoded.value : content.toString("utf8"),
    reason: reasonHeader(h[DEAD_LETTER_HEADERS.reason]),
    error: h[DEAD_LETTER_HEADERS.error],
    code: h[DEAD_LETTER_HEADERS.code],
    attempts: Number.isFinite(attempts) ? attempts : undefined,
    deadLetteredAt: h[DEAD_LETTER_HEADERS.at],
    headers: h,
  };
}

/** The dead letters of `stream`, oldest first, left in place. */
export async function listDeadLetters(
  port: NATSPort,
  stream: string,
  query?: NATSDeadLetterQuery,
): Promise<NATSDeadLetter[]> {
  const deadLetter = resolved(query);
  const limit = positiveInteger("limit", query?.limit, 100);
  const subject = deadLetterSubjectOf(stream, deadLetter);
  const stored = await port.readMessages(deadLetterStreamOf(stream, deadLetter), limit);
  // A dead-letter stream shared by several streams holds others' letters too.
  return stored.filter((m) => m.subject === subject).map((m) => letterOf(stream, m));
}

/**
 * Publishes each dead letter of `stream` back to its original subject (weir's `x-weir-*` headers
 * removed, so its attempts start again), then deletes it from the dead-letter stream: a crash in
 * between leaves a copy in both, never none.
 */
export async function replayDeadLetters(
  port: NATSPort,
  stream: string,
  options?: NATSReplayOptions,
): Promise<{ replayed: number; skipped: number }> {
  const deadLetter = resolved(options);
  const limit = positiveInteger("limit", options?.limit, Number.MAX_SAFE_INTEGER);
  const dlq = deadLetterStreamOf(stream, deadLetter);
  const subject = deadLetterSubjectOf(stream, deadLetter);
  const stored = (await port.readMessages(dlq, limit)).filter((m) => m.subject === subject);
  let replayed = 0;
  let skipped = 0;
  for (const message of stored) {
    const letter = letterOf(stream, message);
    if (options?.filter !== undefined && !options.filter(letter)) {
      skipped++;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(letter.headers))
      if (!key.startsWith("x-weir-")) headers[key] = value;
    await port.publish(letter.subject, message.data, Object.keys(headers).length > 0 ? { headers } : {});
    await port.deleteMessage(dlq, letter.seq);
    replayed++;
  }
  return { replayed, skipped };
}

/** Deletes the dead letters of `stream`; resolves with how many. */
export async function purgeDeadLetters(
  port: NATSPort,
  stream: string,
  query?: NATSDeadLetterQuery,
): Promise<number> {
  const deadLetter = resolved(query);
  return port.purgeStream(deadLetterStreamOf(stream, deadLetter), deadLetterSubjectOf(stream, deadLetter));
}
