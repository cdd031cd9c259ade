import { type Action, Actions } from "../../core/constants.js";
import { failureFields, type Logger } from "../../core/logger.js";
import type { AMQPMessage } from "./message.js";
import type { AMQPChannel, ConsumeMessage } from "./port.js";

const INITIAL_BITS = 1024;
const NO_QUEUES: ReadonlySet<string> = new Set();

/**
 * The delivery tags of one channel that are not settled yet. Tags grow by one per delivery on a
 * channel, so they live in a ring bitset indexed by tag over the window [oldest unsettled, newest]:
 * receiving, settling and "are these the oldest?" cost a few word operations and allocate nothing
 * per message (a `Set` hashes on every add and delete, and allocates an iterator per scan).
 *
 * The window is usually about `prefetch` wide. A message held in a handler for long while others
 * flow past it widens it by one bit per delivery; the ring shrinks back once nothing is unsettled.
 */
class OutstandingTags {
  /** Every tag below `low` is settled; `high` is the newest tag received. */
  private low = 1;
  private high = 0;
  private words = new Uint32Array(INITIAL_BITS / 32);
  private mask = INITIAL_BITS - 1;
  /**
   * When each outstanding delivery arrived (ms epoch) and from which of the route's queues (its
   * index), by slot: what a consumer-timeout close is reported with. Typed arrays: no allocation
   * per delivery.
   */
  private times = new Float64Array(INITIAL_BITS);
  private queues = new Uint16Array(INITIAL_BITS);
  size = 0;

  add(tag: number, at: number, queue: number): void {
    // With nothing outstanding every bit is clear, so the window may start afresh at `tag`.
    const empty = this.size === 0;
    const low = empty || tag < this.low ? tag : this.low;
    const high = empty || tag > this.high ? tag : this.high;
    if (high - low > this.mask) this.grow(high - low);
    // Bits outside [low, high] are always clear, so widening the window needs no clearing.
    const slot = tag & this.mask;
    const bit = 1 << (slot & 31);
    const word = this.words[slot >>> 5]!;
    if ((word & bit) === 0) {
      this.words[slot >>> 5] = word | bit;
      this.size++;
    }
    this.times[slot] = at;
    this.queues[slot] = queue;
    this.low = low;
    this.high = high;
  }

  /** Clears `tag`; false when it was not outstanding (already settled, or never received). */
  delete(tag: number): boolean {
    if (tag < this.low || tag > this.high || !this.has(tag)) return false;
    const slot = tag & this.mask;
    this.words[slot >>> 5]! &= ~(1 << (slot & 31));
    if (--this.size === 0) {
      this.low = this.high + 1;
      if (this.mask >= INITIAL_BITS * 64) this.reset();
    } else if (tag === this.low) {
      // Some tag up to `high` is still set, so this stops there.
      let low = tag + 1;
      while (!this.has(low)) low++;
      this.low = low;
    }
    return true;
  }

  /**
   * True when the `count` outstanding tags from `oldest` to `newest` (a bulk's, all outstanding)
   * are the oldest of the channel: `oldest` is the oldest outstanding tag, and no other outstanding
   * tag lies between `oldest` and `newest`.
   */
  oldestAre(count: number, oldest: number, newest: number): boolean {
    if (oldest !== this.low) return false;
    // A bulk of consecutive tags fills its range: nothing else can hide in there.
    if (newest - oldest + 1 === count) return true;
    let seen = 0;
    for (let tag = oldest; tag <= newest; tag++) {
      if (this.has(tag) && ++seen > count) return false;
    }
    return seen === count;
  }

  /** The oldest outstanding delivery: when it arrived and from which queue (index). */
  oldest(): { at: number; queue: number } | undefined {
    if (this.size === 0) return undefined;
    const slot = this.low & this.mask;
    return { at: this.times[slot]!, queue: this.queues[slot]! };
  }

  clear(): void {
    this.reset();
    this.low = this.high + 1;
    this.size = 0;
  }

  private reset(): void {
    this.words = new Uint32Array(INITIAL_BITS / 32);
    this.times = new Float64Array(INITIAL_BITS);
    this.queues = new Uint16Array(INITIAL_BITS);
    this.mask = INITIAL_BITS - 1;
  }

  private has(tag: number): boolean {
    const slot = tag & this.mask;
    return (this.words[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  private grow(span: number): void {
    let bits = (this.mask + 1) * 2;
    while (bits <= span) bits *= 2;
    const words = new Uint32Array(bits / 32);
    const times = new Float64Array(bits);
    const queues = new Uint16Array(bits);
    const mask = bits - 1;
    for (let tag = this.low; tag <= this.high; tag++) {
      if (!this.has(tag)) continue;
      const slot = tag & mask;
      const from = tag & this.mask;
      words[slot >>> 5]! |= 1 << (slot & 31);
      times[slot] = this.times[from]!;
      queues[slot] = this.queues[from]!;
    }
    this.words = words;
    this.times = times;
    this.queues = queues;
    this.mask = mask;
  }
}

/**
 * One incarnation of a route's channel and the acknowledger for its deliveries. Delivery tags belong
 * to the channel that received them: once it dies, its messages cannot be settled any more (the
 * broker redelivers them), so every settle goes through the session that received the message.
 */
export class ChannelSession {
  alive = true;
  /** Unsettled delivery tags of this channel. */
  private readonly outstanding = new OutstandingTags();

  constructor(
    readonly channel: AMQPChannel,
    readonly logger: Logger,
    /** The route's queues known to count deliveries (declared as quorum queues by the route). */
    private readonly countingQueues: ReadonlySet<string> = NO_QUEUES,
  ) {}

  /** Whether `queue` counts deliveries (`x-delivery-count`): `AMQPMessage.deliveryCount`'s 0. */
  countsDeliveries(queue: string): boolean {
    return this.countingQueues.has(queue);
  }

  get unsettled(): number {
    return this.outstanding.size;
  }

  /** Records a delivery: its tag, when it arrived (ms epoch), its queue's index in the route. */
  received(deliveryTag: number, at: number, queue: number): void {
    this.outstanding.add(deliveryTag, at, queue);
  }

  /** The oldest unsettled delivery of this channel, for a consumer-timeout report. */
  oldestUnsettled(): { at: number; queue: number } | undefined {
    return this.outstanding.oldest();
  }

  /** Rejects a delivery that never reaches a handler (undecodable body). */
  rejectNow(delivery: ConsumeMessage, requeue: boolean): void {
    if (!this.alive) return;
    this.outstanding.delete(delivery.fields.deliveryTag);
    this.sendFrame(delivery, requeue ? Actions.REQUEUE : Actions.REJECT);
  }

  /**
   * Settles a finished bulk: each message by its own decision, else `fallback`. When every message
   * is acked and they are exactly the oldest outstanding deliveries of this channel, one
   * `basic.ack multiple` settles them all (the frame count of a raw client acking in batches);
   * otherwise each message is settled alone, so a multiple ack never covers a message that is still
   * in another handler or waiting for its own settlement.
   */
  settle(bulk: readonly AMQPMessage[], fallback: Action): void {
    if (bulk.length === 1) {
      // The per-message path (bulkSize 1): nothing to batch, so no scan.
      const message = bulk[0]!;
      const action = message.settle(fallback);
      if (this.alive) message.session.send(message, action);
      return;
    }
    let allAck = true;
    let newest: AMQPMessage | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    let foreign = false;
    for (const message of bulk) {
      const action = message.settle(fallback);
      if (action !== Actions.ACK) allAck = false;
      if (message.session !== this) {
        foreign = true;
        continue;
      }
      const tag = message.deliveryTag;
      if (newest === undefined || tag > newest.deliveryTag) newest = message;
      if (tag < oldest) oldest = tag;
    }
    // A dead channel's messages were counted as lost when it died; the broker redelivers them.
    if (!this.alive) return;
    if (
      allAck &&
      !foreign &&
      newest !== undefined &&
      this.outstanding.oldestAre(bulk.length, oldest, newest.deliveryTag)
    ) {
      for (const message of bulk) this.outstanding.delete(message.deliveryTag);
      try {
        this.channel.ack(newest.delivery, true);
      } catch (error) {
        this.closedUnderUs(error);
      }
      return;
    }
    for (const message of bulk) message.session.send(message, message.decision ?? fallback);
  }

  /** Settles one message on this session; a no-op once the channel is gone. */
  send(message: AMQPMessage, action: Action): void {
    if (!this.alive) return;
    const delivery = message.delivery;
    if (!this.outstanding.delete(delivery.fields.deliveryTag)) return;
    this.sendFrame(delivery, action);
  }

  /**
   * Gives a delivery that never reached a handler back to the broker (the shutdown's abandon):
   * requeued. A stream session overrides it (a stream cannot take a requeue).
   */
  giveBack(message: AMQPMessage): void {
    this.send(message, Actions.REQUEUE);
  }

  /** The one frame of one settled delivery: `basic.ack`, or `basic.reject` (requeue or not). */
  protected sendFrame(delivery: ConsumeMessage, action: Action): void {
    try {
      if (action === Actions.ACK) this.channel.ack(delivery);
      else this.channel.reject(delivery, action === Actions.REQUEUE);
    } catch (error) {
      this.closedUnderUs(error);
    }
  }

  /**
   * amqplib throws when the channel is already closed but its close event has not reached us yet.
   * Every delivery of this channel is then unsettleable: retire the session rather than let the
   * error abort the settling of the rest of the bulk (the broker redelivers them all).
   */
  protected closedUnderUs(error: unknown): void {
    this.logger.debug(failureFields(error), "channel closed while settling");
    this.kill();
  }

  /** Marks the session dead; returns how many of its deliveries were left unsettled. */
  kill(): number {
    this.alive = false;
    const left = this.outstanding.size;
    this.outstanding.clear();
    return left;
  }
}
