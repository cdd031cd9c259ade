import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BulkPipeline } from "../../src/core/bulk-pipeline.js";
import { Deadline } from "../../src/core/deadline.js";

function pipeline(options: {
  bulkSize: number;
  flushInterval?: number;
  concurrency?: number;
  work?: () => Promise<void>;
}) {
  const bulks: number[][] = [];
  const abandoned: number[][] = [];
  const p = new BulkPipeline<number>({
    bulkSize: options.bulkSize,
    flushInterval: options.flushInterval ?? 1000,
    concurrency: options.concurrency ?? 1,
    process: (bulk, done) => {
      bulks.push([...bulk]);
      void Promise.resolve(options.work?.()).then(done, done);
    },
    abandon: (bulk) => abandoned.push([...bulk]),
  });
  return { p, bulks, abandoned };
}

describe("BulkPipeline", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hands over full bulks at once", async () => {
    const { p, bulks } = pipeline({ bulkSize: 3 });
    for (let i = 1; i <= 7; i++) p.push(i);
    await vi.advanceTimersByTimeAsync(0);
    expect(bulks).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it("flushes a partial bulk when its oldest message has waited the interval, not on a fixed grid", async () => {
    const { p, bulks } = pipeline({ bulkSize: 10, flushInterval: 1000 });
    await vi.advanceTimersByTimeAsync(700); // a fixed 1 s grid would fire 300 ms after the push below
    p.push(1);
    await vi.advanceTimersByTimeAsync(900);
    p.push(2);
    expect(bulks).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(bulks).toEqual([[1, 2]]);
  });

  it("never hands over an empty bulk when a size flush and the timer coincide (async-worker #222)", async () => {
    const { p, bulks } = pipeline({ bulkSize: 2, flushInterval: 100 });
    p.push(1);
    await vi.advanceTimersByTimeAsync(99);
    p.push(2); // size flush; the timer may stay armed, but must not hand over the empty buffer
    await vi.advanceTimersByTimeAsync(500);
    p.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(bulks).toEqual([[1, 2]]);
    expect(bulks.every((bulk) => bulk.length > 0)).toBe(true);
  });

  it("a bulk that starts after a size flush still waits its whole interval (the age timer outlives the flush)", async () => {
    const { p, bulks } = pipeline({ bulkSize: 2, flushInterval: 1000 });
    p.push(1);
    await vi.advanceTimersByTimeAsync(300);
    p.push(2); // size flush at 300 ms; the age timer armed at 0 stays
    await vi.advanceTimersByTimeAsync(400);
    p.push(3); // oldest of the next bulk, at 700 ms: due at 1700
    await vi.advanceTimersByTimeAsync(299); // 999
    await vi.advanceTimersByTimeAsync(1); // 1000: the timer armed at 0 fires, re-arms for 700
    expect(bulks).toEqual([[1, 2]]);
    await vi.advanceTimersByTimeAsync(699); // 1699
    expect(bulks).toEqual([[1, 2]]);
    await vi.advanceTimersByTimeAsync(1); // 1700
    expect(bulks).toEqual([[1, 2], [3]]);
  });

  it("leaves no timer behind: not while the buffer is empty, not after a drain", async () => {
    const { p, bulks } = pipeline({ bulkSize: 2, flushInterval: 1000 });
    p.push(1);
    p.push(2); // size flush; the age timer stays armed until it fires
    await vi.advanceTimersByTimeAsync(1000);
    expect(vi.getTimerCount()).toBe(0); // fired on an empty buffer: not re-armed
    p.push(3);
    p.push(4);
    p.push(5);
    expect(vi.getTimerCount()).toBe(1);
    const drained = p.drain(new Deadline(1000));
    await vi.advanceTimersByTimeAsync(0);
    expect(await drained).toBe(true);
    expect(bulks).toEqual([[1, 2], [3, 4], [5]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("runs at most `concurrency` bulks at once", async () => {
    let running = 0;
    let peak = 0;
    const { p, bulks } = pipeline({
      bulkSize: 1,
      concurrency: 2,
      work: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 10));
        running--;
      },
    });
    for (let i = 0; i < 6; i++) p.push(i);
    await vi.advanceTimersByTimeAsync(100);
    expect(bulks).toHaveLength(6);
    expect(peak).toBe(2);
  });

  it("drain flushes the partial bulk and waits for it", async () => {
    const { p, bulks } = pipeline({ bulkSize: 10, flushInterval: 60_000 });
    p.push(1);
    p.push(2);
    const drained = p.drain(new Deadline(1000));
    await vi.advanceTimersByTimeAsync(0);
    expect(await drained).toBe(true);
    expect(bulks).toEqual([[1, 2]]);
  });

  it("a drain that times out abandons bulks that never started and leaves the running one", async () => {
    let release: () => void = () => {};
    const { p, bulks, abandoned } = pipeline({
      bulkSize: 1,
      work: () => new Promise<void>((resolve) => (release = resolve)),
    });
    p.push(1);
    p.push(2);
    p.push(3);
    const drained = p.drain(new Deadline(50));
    await vi.advanceTimersByTimeAsync(60);
    expect(await drained).toBe(false);
    expect(bulks).toEqual([[1]]);
    expect(abandoned).toEqual([[2], [3]]);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(bulks).toEqual([[1]]); // abandoned bulks never reach the handler afterwards
  });

  it("drop removes messages that have not reached the handler", async () => {
    const { p, bulks } = pipeline({ bulkSize: 3, flushInterval: 1000 });
    p.push(1);
    p.push(2);
    expect(p.drop((n) => n === 1)).toEqual([1]);
    p.push(3);
    p.push(4);
    await vi.advanceTimersByTimeAsync(0);
    expect(bulks).toEqual([[2, 3, 4]]);
  });

  it("a long queue behind a busy slot starts in order, counts right, and drops and abandons from it", async () => {
    // 3,000 bulks of one wait behind the first: past the queue's compaction point (1,024 taken).
    const releases: Array<() => void> = [];
    const { p, bulks, abandoned } = pipeline({
      bulkSize: 1,
      work: () => new Promise<void>((resolve) => releases.push(resolve)),
    });
    for (let i = 1; i <= 3000; i++) p.push(i);
    expect(p.size).toBe(3000);
    expect(p.drop((n) => n === 2)).toEqual([2]);
    for (let released = 0; released < 2000; released++) {
      releases.shift()?.();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(bulks.flat()).toEqual([1, ...Array.from({ length: 2000 }, (_, i) => i + 3)]);
    expect(p.size).toBe(3000 - 1 - 2000);
    const drained = p.drain(new Deadline(10));
    await vi.advanceTimersByTimeAsync(20);
    expect(await drained).toBe(false);
    expect(abandoned.flat()).toEqual(Array.from({ length: 998 }, (_, i) => i + 2003));
  });
});
