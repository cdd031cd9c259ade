import { Deadline } from "../../core/deadline.js";
import { WeirError } from "../../core/errors.js";
import { failureFields, type Logger } from "../../core/logger.js";
import type { AMQPConnection } from "./port.js";

/**
 * How long the closes of a stop (channels, then connections) may run past `shutdownTimeout` when
 * the drain used all of it (ms). On a broker that answers, a close takes a round trip; without this
 * grace a handler that ran to the deadline would leave the closes no time at all, and a healthy
 * broker would see its connections dropped instead of closed.
 */
export const CLOSE_GRACE_MS = 500;

/**
 * A wait of `stop()` that did not end before its deadline, and was abandoned. Logged (warn) with
 * `what` and `waitedMs`, never thrown: `stop()` goes on, and what was abandoned is left to the
 * broker, which requeues the unacknowledged messages of a channel or connection that goes away.
 */
export class StopAbandonedError extends WeirError {
  /** What was abandoned: `consumer cancel`, `handlers`, `consumer channel close`, `connection close`, ... */
  readonly what: string;

  constructor(what: string, waitedMs: number) {
    super(
      "WEIR_ERR_STOP_ABANDONED",
      `${what} did not end within the shutdown deadline (waited ${waitedMs} ms); abandoned, the broker ` +
        "requeues what was left unacknowledged",
    );
    this.what = what;
  }
}

/** The deadline of a stop's closes: the drain's deadline plus {@link CLOSE_GRACE_MS}. */
export function closeDeadline(deadline: Deadline): Deadline {
  return new Deadline(deadline.remaining() + CLOSE_GRACE_MS);
}

/**
 * Waits for one step of a stop until `deadline`. A step that settles in time (rejecting counts: a
 * failed close has nothing left to wait for) resolves `true`. When the deadline passes first the
 * step is abandoned, left to end on its own: logged at warn with `WEIR_ERR_STOP_ABANDONED`,
 * `what` and `fields`, and `false` is returned for the caller to count and clean up after it.
 *
 * A broker in a memory or disk alarm stops reading from a connection that publishes, so a close
 * on it waits for a reply that comes only when the alarm clears (issue #15: 20 s against a 3 s
 * deadline); every broker wait in the stop path goes through here.
 */
export async function stepWithin(
  deadline: Deadline,
  step: Promise<unknown>,
  what: string,
  logger: Logger,
  fields: Record<string, unknown> = {},
): Promise<boolean> {
  const started = Date.now();
  if (await deadline.race(step)) return true;
  logAbandoned(logger, what, started, fields);
  return false;
}

/** The warn line of an abandoned step of a stop that began waiting at `startedAt` (ms epoch). */
export function logAbandoned(
  logger: Logger,
  what: string,
  startedAt: number,
  fields: Record<string, unknown> = {},
): void {
  const error = new StopAbandonedError(what, Date.now() - startedAt);
  logger.warn({ what, ...fields, ...failureFields(error) }, "stop abandoned a wait at the shutdown deadline");
}

interface SocketHolder {
  connection?: { stream?: { destroyed?: boolean; destroy?(error?: Error): void }; blocked?: unknown };
}

/** Whether the broker told this connection it is blocked (`connection.blocked`, a resource alarm). */
export function isBlocked(model: AMQPConnection): boolean {
  return (model as unknown as SocketHolder).connection?.blocked === true;
}

/**
 * Destroys the socket of an amqplib connection whose close was abandoned, or that the broker
 * blocks: amqplib ends a blocked connection without waiting for `close-ok`, and waits forever for
 * an unanswered one, and either way the socket (and amqplib's heartbeat timers) would keep the
 * process alive. The broker sees the connection go once it reads from it again and requeues its
 * unacknowledged messages. Destroyed with an error so that amqplib tears the connection down (its
 * channels closed, its timers cleared). A no-op for anything that is not an amqplib connection.
 */
export function dropSocket(model: AMQPConnection): void {
  const stream = (model as unknown as SocketHolder).connection?.stream;
  if (stream === undefined || stream.destroyed === true || typeof stream.destroy !== "function") return;
  stream.destroy(new Error("connection abandoned by stop() at the shutdown deadline"));
}
