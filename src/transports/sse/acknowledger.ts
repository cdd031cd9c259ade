import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger } from "../../core/consume/acknowledger.js";
import type { Logger } from "../../core/logger.js";
import type { SSEEvent } from "./event.js";

/** Enough ids to find a bulk in the server's logs, not so many that one log line is megabytes. */
const MAX_LOGGED_IDS = 100;

export function eventIds(events: readonly SSEEvent[]): { eventIds: (string | undefined)[]; count: number } {
  return { eventIds: events.slice(0, MAX_LOGGED_IDS).map((event) => event.id), count: events.length };
}

/**
 * SSE has nothing to answer: a server does not learn what happened to an event. Settling an event
 * counts it (handled, or not), and frees its place under the route's `maxPending`, so the streams
 * are read again. Events that never reached the handler before the stop deadline cannot be
 * redelivered: they are logged with their ids, to be replayed from the server by hand.
 */
export class SSEAcknowledger implements Acknowledger<SSEEvent> {
  /** Events settled as processed (their handler call succeeded, or they were accepted). */
  handled = 0;

  constructor(
    private readonly logger: Logger,
    /** Called with how many events left weir's hands. */
    private readonly released: (count: number) => void,
  ) {}

  settle(events: readonly SSEEvent[], fallback: Action): void {
    let handled = 0;
    for (const event of events) if (event.settle(fallback) === Actions.ACK) handled++;
    this.handled += handled;
    this.released(events.length);
  }

  abandon(events: readonly SSEEvent[]): void {
    for (const event of events) event.settle(Actions.REJECT);
    this.logger.error(eventIds(events), "shutdown deadline passed before these events reached the handler");
    this.released(events.length);
  }

  /** Events are dropped, never left on a dead channel: one can always be counted. */
  settleable(): boolean {
    return true;
  }

  /** Events that will never be settled (the route stopped on an exception): only their room is freed. */
  lost(events: readonly SSEEvent[]): void {
    for (const event of events) event.settle(Actions.REJECT);
    this.released(events.length);
  }
}
