import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger } from "../../core/consume/acknowledger.js";
import type { AMQPMessage } from "./message.js";

/**
 * AMQP's side of core's acknowledger: decisions become `basic.ack` / `basic.nack` frames on the
 * channel the messages came from, batched per bulk by their `ChannelSession` (one `multiple` ack
 * where the tags allow it). A bulk's messages share one channel incarnation: a channel that dies
 * takes its messages out of the pipeline first (RouteConsumer.retire).
 */
export const amqpAcknowledger: Acknowledger<AMQPMessage> = {
  settle(messages: readonly AMQPMessage[], fallback: Action): void {
    const first = messages[0];
    if (first !== undefined) first.session.settle(messages, fallback);
  },
  /**
   * Back to the queue, untouched: the broker redelivers them (flagged `redelivered`). On a stream
   * nothing is sent: the offset is not committed, so they are read again after a restart.
   */
  abandon(messages: readonly AMQPMessage[]): void {
    for (const message of messages) {
      message.settle(Actions.REQUEUE);
      message.session.giveBack(message);
    }
  },
  settleable(message: AMQPMessage): boolean {
    return message.session.alive;
  },
};
