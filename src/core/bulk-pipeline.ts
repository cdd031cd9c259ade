import type { Deadline } from "./deadline.js";

/** How a route groups its messages and how many groups it runs at once. */
export interface BulkOptions {
  /**
   * How many messages the handler receives at most per call. Transports cap it (AMQP: at the
   * route's prefetch, or the bulk could never fill and the consumer would deadlock).
   * @defaultValue 1
   */
  bulkSize?: number;
  /**
   * A partial bulk goes to the handler once its oldest message has waited this long (ms).
   * @defaultValue 60000
   */
  bulkFlushInterval?: number;
  /**
   * The longest one handler call may take (ms). When it passes, the handler's `AbortSignal` is
   * aborted, the call counts as failed (`onException`, or a retry) with a `HandlerTimeoutError`
   * (`WEIR_ERR_HANDLER_TIMEOUT`), its concurrency slot is freed, and its late result is ignored.
   * Keep it below the broker's consumer timeout (docs/amqp.md).
   * @defaultValue none: a call may take as long as it takes
   */
  timeout?: number;
  /**
   * How many bulks of this route may be in the handler at once.
   * @defaultValue 1
   */
  concurrency?: number;
}

export const BULK_DEFAULTS = { bulkSize: 1, bulkFlushInterval: 60_000, concurrency: 1 } as const;

export interface BulkPipelineOptions<M> {
  bulkSize: number;
  flushInterval: number;
  concurrency: number;
  /**
   * Runs the handler on one bulk and settles every message in it, then calls `done` (once, and
   * never synchronously: from a promise callback). Must not throw. A callback rather than a
   * returned promise: with `bulkSize` 1 this runs per message, and every promise level costs.
   */
  process(bulk: M[], done: () => void): void;
  /** Receives the bulks that were still waiting for a concurrency slot when a drain timed out. */
  abandon(bulk: M[]): void;
}

/**
 * Collects messages into bulks and runs them through the route's handler with bounded concurrency.
 *
 * A bulk is handed over when it is full, when its oldest message has waited `flushInterval`, or when
 * the pipeline drains; never empty. Flushing is synchronous (the buffer is swapped in one step), so
 * a size flush and a timed flush cannot race into an empty or duplicated bulk (async-worker #222).
 *
 * This is the per-message hot path of every route (with `bulkSize` 1, one bulk per delivery), so
 * the limiter is a counter and a FIFO rather than p-limit: a bulk that finds a free slot starts its
 * handler at once, with no queue, timer or extra promise; only bulks that find every slot busy wait.
 */
export class BulkPipeline<M> {
  private buffer: M[] = [];
  /**
   * The age timer. A size flush leaves it armed: clearing and setting a timer per bulk made Node
   * build and drop its timer list every time (0.2-0.3 µs a message at 100,000 msg/s, bulks of 100).
   * When it fires it flushes the buffer only if the buffer's oldest message has waited the whole
   * interval, and otherwise re-arms for what is left; it is not re-armed while the buffer is empty.
   */
  private timer: NodeJS.Timeout | undefined;
  /** `performance.now()` (monotonic: a wall clock set back would delay the flush) when the buffer took its oldest message. */
  private bufferStartedAt = 0;
  /**
   * Bulks flushed while every slot was busy, oldest first. They start in this order as slots free
   * up; a drain that times out abandons them.
   */
  private readonly waiting = new Fifo<M[]>();
  /** Bulks in the handler, and how many messages they hold. */
  private active = 0;
  private running = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly bulkSize: number;
  private readonly concurrency: number;
  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const left = this.options.flushInterval - (performance.now() - this.bufferStartedAt);
    // Node's timers count whole ms from the loop's cached clock, so one may fire a fraction of a
    // ms before the monotonic deadline: under 1 ms left is due now, not another timer.
    if (left >= 1) this.timer = setTimeout(this.onTimer, left);
    else this.flush();
  };

  constructor(private readonly options: BulkPipelineOptions<M>) {
    this.bulkSize = options.bulkSize;
    this.concurrency = options.concurrency;
  }

  /** Messages buffered, waiting for a slot, or in the handler. */
  get size(): number {
    let waiting = 0;
    for (const bulk of this.waiting.items()) waiting += bulk.length;
    return this.buffer.length + waiting + this.running;
  }

  /** Bulks flushed and waiting for a concurrency slot (not the partial buffer, not those running). */
  get queuedBulks(): number {
    return this.waiting.length;
  }

  push(message: M): void {
    if (this.bulkSize === 1) {
      // Every message is its own bulk: no buffer to fill, no timer to arm (a bulk of one is full).
      if (this.active < this.concurrency && this.waiting.length === 0) this.run([message]);
      else this.waiting.push([message]);
      return;
    }
    const buffer = this.buffer;
    buffer.push(message);
    if (buffer.length >= this.bulkSize) {
      this.flush();
    } else if (buffer.length === 1) {
      // The interval counts from the oldest message's arrival, not on a fixed grid.
      this.bufferStartedAt = performance.now();
      this.timer ??= setTimeout(this.onTimer, this.options.flushInterval);
    }
  }

  /** Hands the partial bulk (if any) to the handler now. */
  flush(): void {
    const bulk = this.buffer;
    if (bulk.length === 0) return;
    this.buffer = [];
    // Bulks start in flush order: a free slot is taken directly only when nobody waits for one.
    if (this.active < this.concurrency && this.waiting.length === 0) this.run(bulk);
    else this.waiting.push(bulk);
  }

  /**
   * Removes every message matching `predicate` that has not reached the handler yet, and returns
   * them. Used when the messages can no longer be settled (their channel died).
   */
  drop(predicate: (message: M) => boolean): M[] {
    const dropped: M[] = [];
    const keep = (message: M): boolean => {
      if (!predicate(message)) return true;
      dropped.push(message);
      return false;
    };
    this.buffer = this.buffer.filter(keep);
    if (this.buffer.length === 0) this.stopTimer();
    const kept = this.waiting.takeAll().map((bulk) => bulk.filter(keep));
    for (const bulk of kept) if (bulk.length > 0) this.waiting.push(bulk);
    this.notifyIfIdle();
    return dropped;
  }

  /**
   * Flushes the partial bulk and waits for every bulk to finish. When the deadline passes first,
   * bulks that have not started are given to `abandon` (the transport requeues them); bulks in a
   * handler keep running, and the caller decides what to do with their messages.
   * Resolves `true` when everything finished in time.
   */
  async drain(deadline: Deadline): Promise<boolean> {
    this.flush();
    // Nothing is buffered now: an armed age timer would only keep the process up for an interval.
    this.stopTimer();
    const finished = await deadline.race(this.whenIdle());
    if (!finished) {
      const abandoned = this.waiting.takeAll();
      for (const bulk of abandoned) this.options.abandon(bulk);
      this.notifyIfIdle();
    }
    return finished;
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves once nothing is buffered, waiting or running. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.buffer.length === 0 && this.waiting.length === 0 && this.active === 0;
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Runs one bulk in a slot; when it is done, the slot goes to the oldest waiting bulk. */
  private run(bulk: M[]): void {
    this.active++;
    // Counted now: the handler may empty its array (splice, shift).
    const count = bulk.length;
    this.running += count;
    // A bulk of one (every bulk with bulkSize 1) shares one callback: nothing allocated for it.
    this.options.process(bulk, count === 1 ? this.finishedOne : () => this.finished(count));
  }

  private readonly finishedOne = (): void => this.finished(1);

  private finished(count: number): void {
    this.active--;
    this.running -= count;
    const next = this.waiting.shift();
    if (next !== undefined) this.run(next);
    else this.notifyIfIdle();
  }
}

/**
 * A first-in first-out queue whose `shift` is O(1). `Array#shift` copies the rest of the array, and
 * with `bulkSize` 1 a burst (one chunk of an SSE stream: hundreds of events) queues a bulk per
 * message behind the busy slot: shifting them one by one cost more per event than the rest of the
 * delivery (issue #19). Taken slots are cleared, and the array is compacted once its taken front
 * outweighs the rest, so a queue that never empties does not grow.
 */
class Fifo<T> {
  private slots: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.slots.length - this.head;
  }

  push(item: T): void {
    this.slots.push(item);
  }

  /** The oldest item, removed; `undefined` when empty. */
  shift(): T | undefined {
    if (this.head === this.slots.length) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head++] = undefined;
    if (this.head === this.slots.length) {
      this.slots.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** The items, oldest first, without removing them. */
  items(): T[] {
    return this.slots.slice(this.head) as T[];
  }

  /** Removes and returns every item, oldest first. */
  takeAll(): T[] {
    const all = this.items();
    this.slots = [];
    this.head = 0;
    return all;
  }
}
