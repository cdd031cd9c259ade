import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger } from "../../core/consume/acknowledger.js";
import type { NATSMessage } from "./message.js";

/** One decision as JetStream understands it: `ack`, `term` (never again), `nak` (redeliver now). */
export function settleMessage(message: NATSMessage, action: Action): void {
  if (action === Actions.ACK) message.message.ack();
  else if (action === Actions.REJECT) message.message.term();
  else message.message.nak();
}

/** NATS's side of core's acknowledger, and `flush()` for the route's stop. */
export interface NATSAcknowledger extends Acknowledger<NATSMessage> {
  /** Sends the answers still waiting for the end of the event-loop turn, now. */
  flush(): void;
}

/**
 * NATS's side of core's acknowledger. JetStream acks are per message (no `multiple`), and a
 * message received before a reconnect can still be acked after it (the server tracks it by its
 * consumer sequence until `ack_wait` lapses), so every delivery stays settleable. An ack sent while
 * the server is away waits in the client's reconnect buffer. `released` is told of each message
 * settled (the route stops sending it "still working").
 *
 * A message is settled (its decision fixed, `released` told) at once, but its answer goes to the
 * client at the end of the event-loop turn (`setImmediate`), with every other answer of the turn.
 * The client writes what it is given within one microtask queue in one socket write; the bulks of
 * one socket read finish several microtasks apart (each handler's promise, then the next bulk's
 * slot), so answered at once they went out one write per bulk: twice as many writes as a raw
 * client acking inside its message callback, and as many more small deliveries back from the
 * server (docs/performance.md, NATS JetStream). One timer per turn, not per message.
 */
export function natsAcknowledger(released: (message: NATSMessage) => void): NATSAcknowledger {
  // Flat pairs (message, action): no object per answer on the hot path.
  let waiting: (NATSMessage | Action)[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
    if (scheduled !== undefined) {
      clearImmediate(scheduled);
      scheduled = undefined;
    }
    const answers = waiting;
    if (answers.length === 0) return;
    waiting = [];
    for (let i = 0; i < answers.length; i += 2)
      settleMessage(answers[i] as NATSMessage, answers[i + 1] as Action);
  };
  const answer = (messages: readonly NATSMessage[], action: (message: NATSMessage) => Action): void => {
    for (const message of messages) {
      waiting.push(message, action(message));
      released(message);
    }
    scheduled ??= setImmediate(flush);
  };
  return {
    settle(messages: readonly NATSMessage[], fallback: Action): void {
      answer(messages, (message) => message.settle(fallback));
    },
    /** Back to the stream at once (`nak()`): another worker (or this one, restarted) gets them. */
    abandon(messages: readonly NATSMessage[]): void {
      answer(messages, (message) => message.settle(Actions.REQUEUE));
    },
    settleable: () => true,
    flush,
  };
}
