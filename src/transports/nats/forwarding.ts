import { Actions } from "../../core/constants.js";
import type { Forwarding, ForwardTarget } from "../../core/consume/acknowledger.js";
import { deadLetterReasonOf, type WeirDeadLetterReason } from "../../core/consume/dead-letter-reason.js";
import type { Redirect } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";
import type { NATSMessage } from "./message.js";
import type { NATSPort } from "./port.js";
import {
  deadLetterStreamOf,
  deadLetterSubjectOf,
  type ResolvedNATSDeadLetter,
  type ResolvedNATSRetry,
} from "./route-spec.js";

/** Where a NATS delivery goes: back after `delay` ms (`nak(delay)`), or to the dead-letter stream. */
export interface NATSTarget extends ForwardTarget {
  /** ms, for a retry. */
  readonly delay: number;
  /** Why, for the dead letter's headers. */
  readonly error: unknown;
  /** The dead letter's category (`x-weir-reason`), as on the other transports. */
  readonly reason: NATSDeadLetterReason | undefined;
}

/**
 * Why a message was dead-lettered, as AMQP's and Redis's dead letters say it (docs/retries.md):
 * its retries ran out, the handler's error was not retryable, `m.deadLetter()`, or its body was
 * refused before the handler (not JSON, undecodable, the schema's).
 */
export type NATSDeadLetterReason = WeirDeadLetterReason;

/** Headers a dead letter carries (besides the original message's own, `Nats-Msg-Id` aside). */
export const DEAD_LETTER_HEADERS = {
  reason: "x-weir-reason",
  error: "x-weir-error",
  code: "x-weir-error-code",
  stream: "x-weir-original-stream",
  subject: "x-weir-original-subject",
  seq: "x-weir-original-seq",
  msgId: "x-weir-original-msg-id",
  attempts: "x-weir-attempts",
  at: "x-weir-dead-lettered-at",
} as const;

/** ms before a message whose dead letter could not be published comes back to try again. */
const DEAD_LETTER_FAILED_DELAY = 1_000;

function describeError(error: unknown): { message: string; code: string | undefined } {
  const e = error as { message?: unknown; code?: unknown } | undefined;
  return {
    message: typeof e?.message === "string" ? e.message : String(error),
    code: typeof e?.code === "string" ? e.code : undefined,
  };
}

/**
 * Retries and dead letters of a NATS route. A retry is a `nak(delay)`: JetStream redelivers the
 * message after the delay and counts the delivery, so nothing waits in this process's memory and
 * the attempt survives a restart. A dead letter is published to the dead-letter subject (its stream
 * created by weir when missing) and, once the stream acked it, the original is `term`ed: never
 * lost, at worst a second copy if the term is lost.
 */
export class NATSForwarding implements Forwarding<NATSMessage, NATSTarget> {
  retried = 0;
  deadLettered = 0;

  constructor(
    private readonly streams: readonly string[],
    private readonly retry: ResolvedNATSRetry | undefined,
    private readonly deadLetter: ResolvedNATSDeadLetter | undefined,
    private readonly port: () => NATSPort,
    private readonly logger: Logger,
    private readonly released: (message: NATSMessage) => void,
  ) {}

  target(message: NATSMessage, redirect: Redirect): NATSTarget | undefined {
    const retry = this.retry;
    if (redirect.kind === "retry" && retry !== undefined && message.attempt < retry.maxAttempts) {
      const delay = redirect.delay ?? retry.backoff.get(message.attempt);
      return {
        kind: "retry",
        delay: Math.max(0, Math.round(delay)),
        error: redirect.error,
        reason: undefined,
      };
    }
    // A retryable failure past its attempts is `max-attempts`, as on AMQP and Redis.
    const why =
      redirect.kind === "retry" && retry !== undefined ? "max-attempts" : deadLetterReasonOf(redirect.error);
    if (this.deadLetter !== undefined)
      return { kind: "dead-letter", delay: 0, error: redirect.error, reason: why };
    const { message: reason, code } = describeError(redirect.error);
    this.logger.warn(
      { ...message.logFields(), why, code, reason },
      "message terminated (term): the route has no dead-letter stream",
    );
    return undefined;
  }

  async forward(message: NATSMessage, target: NATSTarget): Promise<void> {
    if (target.kind === "retry") {
      message.settle(Actions.REQUEUE);
      message.message.nak(target.delay);
      this.released(message);
      this.retried++;
      return;
    }
    const stream = message.stream;
    const subject = deadLetterSubjectOf(stream, this.deadLetter);
    const { message: reason, code } = describeError(target.error);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(message.headers)) {
      if (key === "Nats-Msg-Id") headers[DEAD_LETTER_HEADERS.msgId] = value;
      else headers[key] = value;
    }
    if (target.reason !== undefined) headers[DEAD_LETTER_HEADERS.reason] = target.reason;
    headers[DEAD_LETTER_HEADERS.error] = reason.slice(0, 1024);
    if (code !== undefined) headers[DEAD_LETTER_HEADERS.code] = code;
    headers[DEAD_LETTER_HEADERS.stream] = stream;
    headers[DEAD_LETTER_HEADERS.subject] = message.subject;
    headers[DEAD_LETTER_HEADERS.seq] = String(message.seq);
    headers[DEAD_LETTER_HEADERS.attempts] = String(message.deliveryCount);
    headers[DEAD_LETTER_HEADERS.at] = new Date().toISOString();
    try {
      await this.port().publish(subject, message.raw, { headers });
    } catch (error) {
      // Not stored: the original comes back after a while and its dead letter is tried again.
      this.logger.error(
        { ...message.logFields(), err: error, deadLetterSubject: subject },
        "could not publish the dead letter; the message comes back",
      );
      message.settle(Actions.REQUEUE);
      message.message.nak(DEAD_LETTER_FAILED_DELAY);
      this.released(message);
      return;
    }
    message.settle(Actions.REJECT);
    // No reason on the term: `+TERM <reason>` needs nats-server 2.10.4; older servers ignore it,
    // leaving the message unacknowledged. The reason is in the dead letter's headers.
    message.message.term();
    this.released(message);
    this.deadLettered++;
    // The fields every transport's "message dead-lettered" line has: the category, the attempts, the text.
    this.logger.warn(
      {
        ...message.logFields(),
        deadLetterSubject: subject,
        reason: target.reason,
        attempts: message.deliveryCount,
        error: reason,
        code,
      },
      "message dead-lettered",
    );
  }

  /** Creates each dead-letter stream that does not exist (capturing its dead-letter subject). */
  async attach(): Promise<void> {
    if (this.deadLetter === undefined) return;
    const port = this.port();
    // One stream may keep the dead letters of several (`deadLetter.stream`): all their subjects.
    const subjects = new Map<string, Set<string>>();
    for (const stream of this.streams) {
      const name = deadLetterStreamOf(stream, this.deadLetter);
      const set = subjects.get(name) ?? new Set<string>();
      set.add(deadLetterSubjectOf(stream, this.deadLetter));
      subjects.set(name, set);
    }
    for (const [name, set] of subjects) await port.ensureStream(name, [...set]);
  }
}
