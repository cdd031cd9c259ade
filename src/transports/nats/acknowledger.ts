import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger } from "../../core/consume/acknowledger.js";
import { endOfTurn } from "./end-of-turn.js";
import type { NATSMessage } from "./message.js";

/** One decision as JetStream understands it: `ack`, `term` (never again), `nak` (redeliver now). */
export function settleMessage(message: NATSMessage, action: Action): void {
  if (action === Actions.ACK) message.message.ack();
  else if (action === Actions.REJECT) message.message.term();
  else message.message.nak();
}

/** NATS's side of core's acknowledger, and `flush()` for the route's stop. */
export interface NATSAcknowledger extends Acknowledger<NATSMessage> {
  /** Sends the answers still waiting (for the route's queued bulks, or the end of the turn), now. */
  flush(): void;
}

/**
 * NATS's side of core's acknowledger. JetStream acks are per message (no `multiple`), and a
 * message received before a reconnect can still be acked after it (the server tracks it by its
 * consumer sequence until `ack_wait` lapses), so every delivery stays settleable. An ack given to
 * the client while the server is away is dropped when it reconnects (it empties its send queue):
 * the settle log sends it again (settle-log.ts). `released` is told of each message
 * settled (the route stops sending it "still working").
 *
 * A message is settled (its decision fixed, `released` told) at once, and its answer goes to the
 * client as soon as the route has no other bulk queued to run (`moreQueued`): the bulks of one
 * socket read run one after another a microtask apart, so their answers go together, and the
 * client writes everything it is given within one microtask queue in one socket write. Answering
 * each bulk at once made a route with `bulkSize` 1 write once per message (112× the raw loop's
 * writes, 0.45× its speed); holding every answer to the end of the event-loop turn kept 400 acks
 * back while the turn read more, and cost 7 % against answering when the read's bulks are done
 * (docs/performance.md, NATS JetStream). A route whose next bulk is slow does not hold the answers
 * of the one before past the end of the turn ({@link endOfTurn}).
 */
export function natsAcknowledger(
  released: (message: NATSMessage) => void,
  moreQueued: () => boolean = () => false,
): NATSAcknowledger {
  // Flat pairs (message, action): no object per answer on the hot path.
  let waiting: (NATSMessage | Action)[] = [];
  let queued = false;
  const send = (): void => {
    queued = false;
    flush();
  };
  const flush = (): void => {
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
    if (!moreQueued()) flush();
    else if (!queued) {
      queued = true;
      endOfTurn(send);
    }
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
