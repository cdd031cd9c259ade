import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger } from "../../core/consume/acknowledger.js";
import type { NATSMessage } from "./message.js";

/** One decision as JetStream understands it: `ack`, `term` (never again), `nak` (redeliver now). */
export function settleMessage(message: NATSMessage, action: Action): void {
  if (action === Actions.ACK) message.message.ack();
  else if (action === Actions.REJECT) message.message.term();
  else message.message.nak();
}

/**
 * NATS's side of core's acknowledger. JetStream acks are per message (no `multiple`), and a
 * message received before a reconnect can still be acked after it (the server tracks it by its
 * consumer sequence until `ack_wait` lapses), so every delivery stays settleable. An ack sent while
 * the server is away waits in the client's reconnect buffer. `released` is told of each message
 * settled (the route stops sending it "still working").
 */
export function natsAcknowledger(released: (message: NATSMessage) => void): Acknowledger<NATSMessage> {
  return {
    settle(messages: readonly NATSMessage[], fallback: Action): void {
      for (const message of messages) {
        settleMessage(message, message.settle(fallback));
        released(message);
      }
    },
    /** Back to the stream at once (`nak()`): another worker (or this one, restarted) gets them. */
    abandon(messages: readonly NATSMessage[]): void {
      for (const message of messages) {
        settleMessage(message, message.settle(Actions.REQUEUE));
        released(message);
      }
    },
    settleable: () => true,
  };
}
