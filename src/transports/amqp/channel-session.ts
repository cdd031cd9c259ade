import type { Channel, ConsumeMessage } from "amqplib";
import { type Action, Actions } from "../../core/constants.js";
import type { Logger } from "../../core/logger.js";
import type { AMQPMessage } from "./message.js";

/**
 * One incarnation of a route's channel and the acknowledger for its deliveries. Delivery tags belong
 * to the channel that received them: once it dies, its messages cannot be settled any more (the
 * broker redelivers them), so every settle goes through the session that received the message.
 */
export class ChannelSession {
  alive = true;
  /**
   * Unsettled delivery tags in delivery order (tags grow monotonically on a channel, and a Set
   * iterates in insertion order), so the oldest outstanding tag is always first.
   */
  private readonly outstanding = new Set<number>();

  constructor(
    readonly channel: Channel,
    readonly logger: Logger,
  ) {}

  get unsettled(): number {
    return this.outstanding.size;
  }

  received(deliveryTag: number): void {
    this.outstanding.add(deliveryTag);
  }

  /** Rejects a delivery that never reaches a handler (undecodable body). */
  rejectNow(delivery: ConsumeMessage, requeue: boolean): void {
    if (!this.alive) return;
    this.outstanding.delete(delivery.fields.deliveryTag);
    this.channel.reject(delivery, requeue);
  }

  /**
   * Settles a finished bulk: each message by its own decision, else `fallback`. When every message
   * is acked and they are exactly the oldest outstanding deliveries of this channel, one
   * `basic.ack multiple` settles them all (the frame count of a raw client acking in batches);
   * otherwise each message is settled alone, so a multiple ack never covers a message that is still
   * in another handler or waiting for its own settlement.
   */
  settle(bulk: readonly AMQPMessage[], fallback: Action): void {
    let allAck = true;
    let newest: AMQPMessage | undefined;
    let foreign = false;
    for (const message of bulk) {
      const action = message.settle(fallback);
      if (action !== Actions.ACK) allAck = false;
      if (message.session !== this) foreign = true;
      else if (newest === undefined || message.deliveryTag > newest.deliveryTag) newest = message;
    }
    // A dead channel's messages were counted as lost when it died; the broker redelivers them.
    if (!this.alive) return;
    if (
      allAck &&
      !foreign &&
      newest !== undefined &&
      bulk.length > 1 &&
      this.oldestAre(bulk.length, newest)
    ) {
      for (const message of bulk) this.outstanding.delete(message.deliveryTag);
      this.channel.ack(newest.delivery, true);
      return;
    }
    for (const message of bulk) message.session.send(message, message.decision ?? fallback);
  }

  /** Settles one message on this session; a no-op once the channel is gone. */
  send(message: AMQPMessage, action: Action): void {
    if (!this.alive) return;
    const delivery = message.delivery;
    if (!this.outstanding.delete(delivery.fields.deliveryTag)) return;
    if (action === Actions.ACK) this.channel.ack(delivery);
    else this.channel.reject(delivery, action === Actions.REQUEUE);
  }

  /** True when the `count` oldest outstanding tags are all at or below `newest`'s tag. */
  private oldestAre(count: number, newest: AMQPMessage): boolean {
    const limit = newest.deliveryTag;
    let seen = 0;
    for (const tag of this.outstanding) {
      if (tag > limit) break;
      seen++;
      if (seen > count) return false;
    }
    return seen === count;
  }

  /** Marks the session dead; returns how many of its deliveries were left unsettled. */
  kill(): number {
    this.alive = false;
    const left = this.outstanding.size;
    this.outstanding.clear();
    return left;
  }
}
