import { expect, it } from "vitest";
import type { Action, App, Backoff, StandardSchemaV1 } from "../../src/index.js";

/**
 * How a message-consuming transport delivers, checked through the public App against the real
 * broker: one suite for every consuming transport (AMQP, Redis Streams, NATS JetStream, SQS), as
 * Watermill's `pubsub/tests` holds every Pub/Sub to one. Each transport's fixture says how to make a
 * source, turn the common options into its route spec, publish and count what the broker still
 * holds. What a broker cannot do is a fixture capability left undefined, never a skipped test.
 */

/** The route options every consuming transport accepts, under the names AMQP routes use. */
export interface CommonRouteOptions {
  readonly bulkSize?: number;
  /** ms */
  readonly bulkFlushInterval?: number;
  /** Messages the route may hold unsettled (AMQP prefetch, JetStream max_ack_pending, ...). */
  readonly prefetch?: number;
  readonly onException?: Action;
  readonly schema?: StandardSchemaV1;
  readonly once?: { readonly ttl: number };
  readonly retry?: { readonly maxAttempts: number; readonly backoff: Backoff };
  /** The route's dead-letter destination on (`deadLetters(source)` reads it). */
  readonly deadLetter?: boolean;
}

/** What a handler of any consuming route receives per message (weir's `Delivery`). */
export interface CommonMessage {
  readonly body: unknown;
  readonly attempt: number;
  readonly redelivered: boolean;
  accept(): void;
  reject(options?: { requeue?: boolean }): void;
  retry(): void;
  deadLetter(reason?: string): void;
}

export interface DeliveryFixture {
  /** The route type, for test names. */
  readonly type: string;
  /** A fresh, empty source this test owns (a queue, a stream, a subject), created on the broker. */
  newSource(): Promise<string>;
  /** A fresh app able to consume from the fixture's broker (quiet logger, `shutdownTimeout: 5000`). */
  makeApp(): App;
  /** The route spec (`type` included) for `source` with the common options. */
  spec(source: string, options: CommonRouteOptions): { readonly type: string };
  /** Publishes JSON bodies to `source`, in order, confirmed by the broker. */
  publish(source: string, bodies: readonly unknown[]): Promise<void>;
  /** Messages `source` still holds that no consumer has settled (ready + in flight). */
  backlog(source: string): Promise<number>;
  /** The bodies in `source`'s dead-letter destination, oldest first (read without removing). */
  deadLetters(source: string): Promise<unknown[]>;
  /** Makes the broker go away and come back (a restart, or every connection dropped). */
  interrupt(): Promise<void>;
  /** Releases the sources and connections the fixture made. */
  cleanup(): Promise<void>;
}

/**
 * The route spec of a transport whose routes take weir's common names (`prefetch` beside `type`,
 * bulk and outcome settings under `options`, `schema`, `once`, `retry`, `deadLetter` at the top):
 * every built-in consuming transport. `extra` adds what the transport needs besides.
 */
export function commonSpec(
  type: string,
  o: CommonRouteOptions,
  extra: Record<string, unknown> = {},
): { readonly type: string; readonly [option: string]: unknown } {
  const defined = (entries: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));
  return {
    type,
    ...extra,
    ...defined({
      prefetch: o.prefetch,
      schema: o.schema,
      once: o.once,
      retry: o.retry,
      deadLetter: o.deadLetter,
    }),
    options: defined({
      bulkSize: o.bulkSize,
      bulkFlushInterval: o.bulkFlushInterval,
      onException: o.onException,
    }),
  };
}

/** Polls `predicate` every 20 ms, failing after `timeoutMs`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A Standard Schema v1 validator of `{ n: number }`, without a schema library. */
export const numberBody: StandardSchemaV1<unknown, { n: number }> = {
  "~standard": {
    version: 1,
    vendor: "weir-test",
    validate(value) {
      if (typeof value === "object" && value !== null && typeof (value as { n?: unknown }).n === "number") {
        return { value: value as { n: number } };
      }
      return { issues: [{ message: "n must be a number", path: ["n"] }] };
    },
  },
};

/** A backoff of `ms` for every attempt. */
export const fixedBackoff = (ms: number): Backoff => ({ get: () => ms });

type Handler = (messages: CommonMessage[]) => unknown;

function route(
  app: App,
  f: DeliveryFixture,
  source: string,
  options: CommonRouteOptions,
  handler: Handler,
): void {
  // The spec comes from the fixture, so its type is the fixture's, not one of weir's known kinds.
  (app.route as unknown as (routes: string[], spec: object, handler: Handler) => void)(
    [source],
    f.spec(source, options),
    handler,
  );
}

const bodiesOf = (messages: readonly CommonMessage[]) => messages.map((m) => (m.body as { n: number }).n);
const range = (count: number, from = 0) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

/** Registers the delivery behaviour tests for one transport (call inside a `describe`). */
export function deliveryBehaviour(fixture: () => DeliveryFixture): void {
  const name = fixture().type;

  it(`${name}: bulks fill to bulkSize, in publish order, and everything is settled on the broker`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, range(10));
    const app = f.makeApp();
    const bulks: number[][] = [];
    route(app, f, source, { bulkSize: 5, prefetch: 10, bulkFlushInterval: 60_000 }, (messages) => {
      bulks.push(bodiesOf(messages));
    });
    try {
      await app.start();
      await until(() => bulks.flat().length === 10, "10 messages handled");
      expect(bulks).toEqual([
        [0, 1, 2, 3, 4],
        [5, 6, 7, 8, 9],
      ]);
      await until(async () => (await f.backlog(source)) === 0, "the broker to hold nothing unsettled");
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: a partial bulk goes to the handler once its oldest message is bulkFlushInterval old`, async () => {
    const f = fixture();
    const source = await f.newSource();
    const app = f.makeApp();
    const bulks: { size: number; at: number }[] = [];
    route(app, f, source, { bulkSize: 50, prefetch: 100, bulkFlushInterval: 300 }, (messages) => {
      bulks.push({ size: messages.length, at: Date.now() });
    });
    try {
      await app.start();
      const sent = Date.now();
      await f.publish(source, range(3));
      await until(() => bulks.length === 1, "the partial bulk");
      expect(bulks[0]?.size).toBe(3);
      // Not before the interval (less a little for the publish itself), not long after it.
      expect((bulks[0]?.at ?? 0) - sent).toBeGreaterThanOrEqual(250);
      expect((bulks[0]?.at ?? 0) - sent).toBeLessThan(3_000);
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: per-message outcomes in one bulk: reject({ requeue: false }) drops one, reject() requeues one that comes back redelivered, the rest are acked`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, range(4));
    const app = f.makeApp();
    const seen: { n: number; redelivered: boolean; attempt: number }[] = [];
    route(app, f, source, { bulkSize: 4, prefetch: 4, bulkFlushInterval: 200 }, (messages) => {
      for (const m of messages) {
        const n = (m.body as { n: number }).n;
        seen.push({ n, redelivered: m.redelivered, attempt: m.attempt });
        if (n === 1) m.reject({ requeue: false });
        if (n === 2 && !m.redelivered) m.reject();
      }
    });
    try {
      await app.start();
      await until(() => seen.length === 5, "4 deliveries and one redelivery");
      await until(async () => (await f.backlog(source)) === 0, "nothing left unsettled");
      // Give a wrongly requeued message time to come back before counting.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(seen.map((s) => s.n).sort()).toEqual([0, 1, 2, 2, 3]);
      const again = seen.filter((s) => s.n === 2)[1];
      // A requeue is not a retry: whether it counts as an attempt depends on what the broker counts.
      expect(again?.redelivered).toBe(true);
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: a thrown error applies onException to every message the handler left unsettled`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, range(2));
    const app = f.makeApp();
    let calls = 0;
    route(
      app,
      f,
      source,
      { bulkSize: 2, prefetch: 2, bulkFlushInterval: 200, onException: "requeue" },
      () => {
        calls++;
        if (calls === 1) throw new Error("first call fails");
      },
    );
    try {
      await app.start();
      await until(() => calls === 2, "the requeued bulk to come back");
      await until(async () => (await f.backlog(source)) === 0, "nothing left unsettled");
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: a body the schema refuses never reaches the handler and is dead-lettered with the rest handled`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, [{ n: 1 }, { n: "two" }, { n: 3 }]);
    const app = f.makeApp();
    const handled: number[] = [];
    route(app, f, source, { bulkSize: 1, schema: numberBody, deadLetter: true }, (messages) => {
      handled.push(...bodiesOf(messages));
    });
    try {
      await app.start();
      await until(() => handled.length === 2, "the two valid bodies");
      await until(async () => (await f.deadLetters(source)).length === 1, "the refused body in the DLQ");
      expect(handled).toEqual([1, 3]);
      expect(await f.deadLetters(source)).toEqual([{ n: "two" }]);
      await until(async () => (await f.backlog(source)) === 0, "nothing left unsettled");
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: once-only: a second message with the same key is acked without calling the handler`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, [{ n: 7 }, { n: 7 }, { n: 8 }]);
    const app = f.makeApp();
    const handled: number[] = [];
    route(app, f, source, { bulkSize: 1, once: { ttl: 60_000 } }, (messages) => {
      handled.push(...bodiesOf(messages));
    });
    try {
      await app.start();
      await until(() => handled.length === 2, "two distinct bodies");
      await until(async () => (await f.backlog(source)) === 0, "the duplicate acked too");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(handled).toEqual([7, 8]);
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: retries after the backoff up to maxAttempts, then one copy in the dead-letter destination`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, [{ n: 42 }]);
    const app = f.makeApp();
    const calls: { attempt: number; at: number }[] = [];
    route(
      app,
      f,
      source,
      { bulkSize: 1, retry: { maxAttempts: 3, backoff: fixedBackoff(200) } },
      (messages) => {
        for (const m of messages) calls.push({ attempt: m.attempt, at: Date.now() });
        throw new Error("always fails");
      },
    );
    try {
      await app.start();
      await until(async () => (await f.deadLetters(source)).length === 1, "the dead letter", 20_000);
      expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
      for (let i = 1; i < calls.length; i++) {
        expect((calls[i]?.at ?? 0) - (calls[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(150);
      }
      expect(await f.deadLetters(source)).toEqual([{ n: 42 }]);
      await until(async () => (await f.backlog(source)) === 0, "nothing left unsettled");
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(calls.length).toBe(3);
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: stop() lets the bulk in the handler finish and settles it, before the deadline`, async () => {
    const f = fixture();
    const source = await f.newSource();
    await f.publish(source, range(3));
    const app = f.makeApp();
    let entered = false;
    let finished = 0;
    route(app, f, source, { bulkSize: 3, prefetch: 3, bulkFlushInterval: 100 }, async (messages) => {
      entered = true;
      await new Promise((resolve) => setTimeout(resolve, 500));
      finished += messages.length;
    });
    try {
      await app.start();
      await until(() => entered, "the bulk in the handler");
      const started = Date.now();
      await app.stop();
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(finished).toBe(3);
      await until(async () => (await f.backlog(source)) === 0, "the drained bulk settled");
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });

  it(`${name}: after the broker goes away and comes back, the route consumes again and nothing is lost`, async () => {
    const f = fixture();
    const source = await f.newSource();
    const app = f.makeApp();
    const handled = new Set<number>();
    route(app, f, source, { bulkSize: 1 }, (messages) => {
      for (const n of bodiesOf(messages)) handled.add(n);
    });
    try {
      await app.start();
      await f.publish(source, range(5));
      await until(() => handled.size === 5, "the first five");
      await f.interrupt();
      await f.publish(source, range(5, 5));
      await until(() => handled.size === 10, "the five published after the interruption", 30_000);
      await until(async () => (await f.backlog(source)) === 0, "nothing left unsettled", 15_000);
    } finally {
      await app.stop();
      await f.cleanup();
    }
  });
}
