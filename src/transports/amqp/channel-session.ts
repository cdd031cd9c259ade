// Node's own timers, not the globals: an ack flush is I/O scheduling, not time a test fakes. A test
// on fake timers (weir/testing's in-memory broker) still sees its acks written at the end of the turn.
import { clearImmediate, clearTimeout, setImmediate, setTimeout } from "node:timers";
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
  /** Outstanding tags settled positively whose `basic.ack` is not written yet, by slot. */
  private acked = new Uint32Array(INITIAL_BITS / 32);
  size = 0;
  /** How many outstanding tags are marked acked (written at the next flush). */
  pendingAcks = 0;

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
    const bit = 1 << (slot & 31);
    this.words[slot >>> 5]! &= ~bit;
    if ((this.acked[slot >>> 5]! & bit) !== 0) {
      this.acked[slot >>> 5]! &= ~bit;
      this.pendingAcks--;
    }
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
   * Marks an outstanding `tag` as acked, its frame to be written at the next flush; false when it
   * is not outstanding (settled already, or of another incarnation) or marked already.
   */
  markAcked(tag: number): boolean {
    if (tag < this.low || tag > this.high || !this.has(tag)) return false;
    const slot = tag & this.mask;
    const bit = 1 << (slot & 31);
    if ((this.acked[slot >>> 5]! & bit) !== 0) return false;
    this.acked[slot >>> 5]! |= bit;
    this.pendingAcks++;
    return true;
  }

  /**
   * Removes the marked tags that are the channel's oldest outstanding ones (every outstanding tag
   * up to the result is marked) and returns the newest of them, the tag of one `basic.ack` with
   * `multiple`, and how many they are (0 when the oldest outstanding tag is not marked). Tags below the result that are not
   * outstanding were settled already (alone, or negatively), which a multiple ack does not touch.
   */
  takeAckedPrefix(): { newest: number; count: number } {
    let newest = 0;
    let count = 0;
    while (this.size > 0 && this.isAcked(this.low)) {
      newest = this.low;
      count++;
      this.delete(this.low);
    }
    return { newest, count };
  }

  /**
   * Removes the marked tags that remain (each behind an outstanding tag still in a handler or a
   * bulk) and calls `each` with them, oldest first: they are acked alone.
   */
  takeAcked(each: (tag: number) => void): void {
    for (let tag = this.low; this.pendingAcks > 0 && tag <= this.high; tag++) {
      if (this.isAcked(tag)) {
        this.delete(tag);
        each(tag);
      }
    }
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
    this.acked = new Uint32Array(INITIAL_BITS / 32);
    this.pendingAcks = 0;
    this.times = new Float64Array(INITIAL_BITS);
    this.queues = new Uint16Array(INITIAL_BITS);
    this.mask = INITIAL_BITS - 1;
  }

  private has(tag: number): boolean {
    const slot = tag & this.mask;
    return (this.words[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  private isAcked(tag: number): boolean {
    const slot = tag & this.mask;
    return (this.acked[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  private grow(span: number): void {
    let bits = (this.mask + 1) * 2;
    while (bits <= span) bits *= 2;
    const words = new Uint32Array(bits / 32);
    const acked = new Uint32Array(bits / 32);
    const times = new Float64Array(bits);
    const queues = new Uint16Array(bits);
    const mask = bits - 1;
    for (let tag = this.low; tag <= this.high; tag++) {
      if (!this.has(tag)) continue;
      const slot = tag & mask;
      const from = tag & this.mask;
      words[slot >>> 5]! |= 1 << (slot & 31);
      if (this.isAcked(tag)) acked[slot >>> 5]! |= 1 << (slot & 31);
      times[slot] = this.times[from]!;
      queues[slot] = this.queues[from]!;
    }
    this.words = words;
    this.acked = acked;
    this.times = times;
    this.queues = queues;
    this.mask = mask;
  }
}

/**
 * How long the acks of one channel may wait to be written together (`amqp.ackWindow`): `0` gathers
 * the acks settled in the same event-loop turn, a positive number waits up to that many ms, `false`
 * writes them when their bulk is settled.
 */
export type AckWindow = number | false;

/** Ticket of a pending flush: an immediate (one turn) or a timer (a window). */
type FlushTicket =
  | { readonly kind: "immediate"; readonly handle: NodeJS.Immediate }
  | {
      readonly kind: "timer";
      readonly handle: NodeJS.Timeout;
    };

/**
 * One incarnation of a route's channel and the acknowledger for its deliveries. Delivery tags belong
 * to the channel that received them: once it dies, its messages cannot be settled any more (the
 * broker redelivers them), so every settle goes through the session that received the message.
 *
 * Acks are coalesced: a positive settlement only marks its tag, and a flush at the end of the
 * event-loop turn (or of `ackWindow`) writes one `basic.ack` with `multiple` for the marked tags
 * that are the channel's oldest outstanding ones, and a plain `basic.ack` for each marked tag that
 * sits behind a delivery still in a handler or a bulk: a multiple ack never covers a delivery that
 * is not settled positively. Rejects and requeues are written at once, never held behind acks
 * (frames on a channel are processed in order, so a later multiple ack does not touch them).
 */
export class ChannelSession {
  alive = true;
  /** Unsettled delivery tags of this channel. */
  private readonly outstanding = new OutstandingTags();
  private flushTicket: FlushTicket | undefined;
  /** `basic.ack` frames written on this channel: the bench's "ack frames per 1,000 messages". */
  ackFrames = 0;

  constructor(
    readonly channel: AMQPChannel,
    readonly logger: Logger,
    /** The route's queues known to count deliveries (declared as quorum queues by the route). */
    private readonly countingQueues: ReadonlySet<string> = NO_QUEUES,
    private readonly ackWindow: AckWindow = 0,
  ) {}

  /** Whether `queue` counts deliveries (`x-delivery-count`): `AMQPMessage.deliveryCount`'s 0. */
  countsDeliveries(queue: string): boolean {
    return this.countingQueues.has(queue);
  }

  /** Deliveries not settled yet, acks waiting for their flush included. */
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
   * Settles a finished bulk: each message by its own decision, else `fallback`, each on the session
   * that received it. With `ackWindow: false` the acks are written before this returns (one
   * `multiple` ack when the bulk holds the channel's oldest deliveries).
   */
  settle(bulk: readonly AMQPMessage[], fallback: Action): void {
    for (const message of bulk) {
      const action = message.settle(fallback);
      if (message.session === this) this.settleOne(message, action);
      else message.session.send(message, action);
    }
    if (this.ackWindow === false) this.flushAcks();
  }

  /** Settles one message outside a bulk (a retry's confirm came back); a no-op once the channel is gone. */
  send(message: AMQPMessage, action: Action): void {
    this.settleOne(message, action);
    if (this.ackWindow === false) this.flushAcks();
  }

  /** An ack is marked for the next flush; a reject or a requeue is written at once. */
  private settleOne(message: AMQPMessage, action: Action): void {
    if (!this.alive) return;
    const delivery = message.delivery;
    if (action === Actions.ACK) {
      if (
        this.outstanding.markAcked(delivery.fields.deliveryTag) &&
        this.flushTicket === undefined &&
        this.ackWindow !== false
      ) {
        this.scheduleFlush(this.ackWindow);
      }
      return;
    }
    if (!this.outstanding.delete(delivery.fields.deliveryTag)) return;
    this.sendFrame(delivery, action);
  }

  /**
   * Writes every ack waiting for its flush: one `basic.ack multiple` for those that are the
   * channel's oldest outstanding deliveries, one `basic.ack` each for the rest. Called by the
   * scheduled flush, and before the channel is closed on purpose (stop, a new attach), so a closed
   * channel never takes settled messages with it.
   */
  flushAcks(): void {
    this.cancelFlush();
    if (!this.alive || this.outstanding.pendingAcks === 0) return;
    try {
      const prefix = this.outstanding.takeAckedPrefix();
      if (prefix.count > 0) {
        // One tag needs no `multiple` (the frame reads as what it is); more share one frame.
        this.channel.ack({ fields: { deliveryTag: prefix.newest } } as ConsumeMessage, prefix.count > 1);
        this.ackFrames++;
      }
      this.outstanding.takeAcked((tag) => {
        this.channel.ack({ fields: { deliveryTag: tag } } as ConsumeMessage, false);
        this.ackFrames++;
      });
    } catch (error) {
      this.closedUnderUs(error);
    }
  }

  private scheduleFlush(window: number): void {
    const flush = () => {
      this.flushTicket = undefined;
      this.flushAcks();
    };
    this.flushTicket =
      window === 0
        ? { kind: "immediate", handle: setImmediate(flush) }
        : { kind: "timer", handle: setTimeout(flush, window) };
  }

  private cancelFlush(): void {
    const ticket = this.flushTicket;
    if (ticket === undefined) return;
    this.flushTicket = undefined;
    if (ticket.kind === "immediate") clearImmediate(ticket.handle);
    else clearTimeout(ticket.handle);
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
      if (action === Actions.ACK) {
        this.channel.ack(delivery);
        this.ackFrames++;
      } else this.channel.reject(delivery, action === Actions.REQUEUE);
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

  /**
   * Marks the session dead; returns how many of its deliveries were left unsettled, acks that were
   * waiting for their flush included (they are abandoned: the broker redelivers those messages,
   * flagged redelivered, as it would had the channel died just before they were settled).
   */
  kill(): number {
    this.alive = false;
    this.cancelFlush();
    const left = this.outstanding.size;
    this.outstanding.clear();
    return left;
  }
}
