import { Actions } from "../../core/constants.js";
import type { Forwarding, ForwardTarget } from "../../core/consume/acknowledger.js";
import { deadLetterReasonOf, failedBeforeHandler } from "../../core/consume/dead-letter-reason.js";
import type { Redirect } from "../../core/consume/delivery.js";
import { type Logger, failureFields as logFailure } from "../../core/logger.js";
import type { RedisAcknowledger } from "./acknowledger.js";
import type { RedisCommands } from "./commands.js";
import { type Fields, failureFields, RedisFields } from "./fields.js";
import type { RedisMessage } from "./message.js";
import { DLQ_SUFFIX, RETRY_SUFFIX, type RedisRoute } from "./route-spec.js";

/** Where a failed entry goes. */
export interface RedisTarget extends ForwardTarget {
  /** The fields written: the entry's own, plus the failure's. */
  readonly fields: Fields;
  /** ms before a retry comes back. */
  readonly delay: number;
  readonly attempts: number;
  readonly reason: string | undefined;
}

/**
 * Retries and dead letters of a Redis route, each its own key beside the stream: a retry waits in
 * the sorted set `<stream>.retry` (scored by its due time, ms since the epoch) until a consumer of
 * the stream moves it back with `XADD` (a new entry, its attempts in `x-weir-attempts`); a dead
 * letter is an entry of the stream `<stream>.dlq` with `x-weir-*` fields saying why. Either is
 * written and the original acked in one `MULTI`: never lost, never both.
 */
export class RedisForwarding implements Forwarding<RedisMessage, RedisTarget> {
  retried = 0;
  deadLettered = 0;

  constructor(
    private readonly route: RedisRoute,
    private readonly commands: RedisCommands,
    private readonly acknowledger: RedisAcknowledger,
    private readonly scheduled: (dueAt: number) => void,
    private readonly logger: Logger,
  ) {}

  async attach(): Promise<void> {}

  target(message: RedisMessage, redirect: Redirect): RedisTarget | undefined {
    const now = new Date();
    const failures = message.priorAttempts() + (message.redeliveries ?? 0);
    const retry = this.route.retry;
    if (redirect.kind === "retry" && retry !== undefined) {
      const attempts = failures + 1;
      if (attempts < retry.maxAttempts) {
        const delay = Math.max(0, Math.round(redirect.delay ?? retry.backoff.get(attempts)));
        return {
          kind: "retry",
          fields: {
            ...failureFields(message.fields, attempts, redirect.error, now),
            [RedisFields.RETRY_GROUP]: this.route.group,
          },
          delay,
          attempts,
          reason: undefined,
        };
      }
      return this.deadLetter(message, attempts, "max-attempts", redirect.error, now);
    }
    const attempts = failedBeforeHandler(redirect.error) ? failures : failures + 1;
    return this.deadLetter(message, attempts, deadLetterReasonOf(redirect.error), redirect.error, now);
  }

  private deadLetter(
    message: RedisMessage,
    attempts: number,
    reason: string,
    error: unknown,
    now: Date,
  ): RedisTarget | undefined {
    if (!this.route.deadLetter) {
      this.logger.warn(
        { ...message.logFields(), why: reason, attempts, ...logFailure(error) },
        "message dropped: the route has no dead-letter stream (deadLetter: false)",
      );
      return undefined;
    }
    return {
      kind: "dead-letter",
      fields: {
        ...failureFields(message.fields, attempts, error, now),
        [RedisFields.REASON]: reason,
        [RedisFields.ORIGINAL_STREAM]: message.stream,
        [RedisFields.ORIGINAL_ID]: message.id,
        [RedisFields.GROUP]: this.route.group,
      },
      delay: 0,
      attempts,
      reason,
    };
  }

  async forward(message: RedisMessage, target: RedisTarget): Promise<void> {
    message.settle(Actions.ACK);
    try {
      if (target.kind === "retry") {
        const dueAt = Date.now() + target.delay;
        await this.commands.retryLater(this.route.group, message, target.fields, dueAt);
        this.acknowledger.forwarded(message);
        this.scheduled(dueAt);
        this.retried++;
        this.logger.debug(
          {
            ...message.logFields(),
            delayMs: target.delay,
            attempt: target.attempts,
            key: `${message.stream}${RETRY_SUFFIX}`,
          },
          "message will be retried",
        );
      } else {
        await this.commands.deadLetter(this.route.group, message, target.fields);
        this.acknowledger.forwarded(message);
        this.deadLettered++;
        this.logger.warn(
          {
            ...message.logFields(),
            deadLetterStream: `${message.stream}${DLQ_SUFFIX}`,
            reason: target.reason,
            attempts: target.attempts,
            error: target.fields[RedisFields.ERROR],
          },
          "message dead-lettered",
        );
      }
    } catch (error) {
      this.logger.error(
        { ...message.logFields(), kind: target.kind, ...logFailure(error) },
        "could not forward a failed message; requeued it instead",
      );
      this.acknowledger.release([message]);
    }
  }
}
