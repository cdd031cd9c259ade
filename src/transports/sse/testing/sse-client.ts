import { clearTimeout as clearRealTimeout, setTimeout as realTimeout } from "node:timers";
import { setTimeout as realSleep } from "node:timers/promises";
import type { RouteHealth } from "../../../core/transport.js";
import { knownKeys } from "../../../core/validate.js";
import type { WaitOptions } from "../../../testing/driver.js";
import { TestClientError } from "../../../testing/errors.js";

/**
 * `client.sse`: feeds events into the app's real SSE pipeline (the SSE parser, bulks, retries,
 * `onException`) through an in-memory `fetch`. weir's SSE transport calls the global `fetch` for
 * each connection; while the client runs, a fetch of one of the app's stream URLs is answered here
 * with a `text/event-stream` Response whose body the test writes to. Any other URL goes to the
 * real `fetch`. No socket is opened for the app's streams.
 */

/** One event to send, as a server would write it. */
export interface SSEEventInit {
  /**
   * The `event:` field.
   * @defaultValue none (the handler sees `"message"`)
   */
  event?: string;
  /** The `data:` field: a string as it is (multi-line allowed), anything else as JSON. */
  data: unknown;
  /**
   * The `id:` field (weir sends the last one back as `Last-Event-ID` when it reconnects).
   * @defaultValue none
   */
  id?: string;
  /**
   * The `retry:` field (ms): the server's reconnect delay, a floor on weir's backoff.
   * @defaultValue none
   */
  retry?: number;
}

/** What `emit` saw the route do with the events. */
export interface SSEEmitResult {
  /** Events the route read from the stream (an event with empty data is not one, per the SSE spec). */
  readonly read: number;
  /** Events whose handler call succeeded meanwhile (the route's `handled` counter). */
  readonly handled: number;
  /** Bulks the handler failed on after its retries meanwhile. */
  readonly failedBulks: number;
  /** Events left in the route's partial bulk, waiting for `bulkFlushInterval`. */
  readonly waiting: number;
}

/** One connection weir opened to a stream: what it sent. */
export interface SSEConnectionInfo {
  /** The request headers (Authorization, Last-Event-ID, your `headers`), names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface TestSSE {
  /**
   * Writes `events` to the stream of `path` (a route path such as "/v2/events", or its full URL) and
   * resolves once the route has read them and every bulk they completed has been handled. Events
   * that do not complete a bulk wait for `bulkFlushInterval`, as in production (advance fake
   * timers), or for `disconnect`.
   */
  emit(path: string, events: readonly SSEEventInit[], options?: WaitOptions): Promise<SSEEmitResult>;
  /**
   * Ends the stream, as a server dropping the connection: weir hands over the partial bulk and
   * reconnects after its backoff (with `Last-Event-ID`). Events emitted meanwhile wait for it.
   */
  disconnect(path: string): Promise<void>;
  /** The connections weir made to the stream of `path`, oldest first. */
  connections(path: string): readonly SSEConnectionInfo[];
}

/** Chunks written after the events: once the route asks beyond them, it has parsed the events. */
const PADDING = 3;
const encoder = new TextEncoder();

function frame(init: SSEEventInit): { text: string; counts: boolean } {
  if (typeof init !== "object" || init === null || !("data" in init)) {
    throw new TestClientError("WEIR_ERR_TEST_BAD_ARGUMENT", "each SSE event needs a `data` field");
  }
  const data = typeof init.data === "string" ? init.data : JSON.stringify(init.data);
  const lines: string[] = [];
  for (const [field, value] of [
    ["event", init.event],
    ["id", init.id],
  ] as const) {
    if (value === undefined) continue;
    if (/[\r\n]/.test(value)) {
      throw new TestClientError("WEIR_ERR_TEST_BAD_ARGUMENT", `an SSE ${field} cannot contain a line break`);
    }
    lines.push(`${field}: ${value}`);
  }
  if (init.retry !== undefined) lines.push(`retry: ${Math.trunc(init.retry)}`);
  for (const line of data.split(/\r\n|\r|\n/)) lines.push(`data: ${line}`);
  return { text: `${lines.join("\n")}\n\n`, counts: data !== "" };
}

/** One response body weir is reading: a pull source that counts what it handed out. */
class FeedConnection {
  readonly body: ReadableStream<Uint8Array>;
  closed = false;
  private readonly chunks: Uint8Array[] = [];
  private handedOut = 0;
  private written = 0;
  private pulling: (() => void) | undefined;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly listeners = new Set<() => void>();

  constructor(signal: AbortSignal | null | undefined) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: (controller) => this.pull(controller),
        cancel: () => this.end(),
      },
      { highWaterMark: 0 },
    );
    signal?.addEventListener("abort", () => {
      if (this.closed) return;
      this.end();
      this.controller.error(new DOMException("The operation was aborted.", "AbortError"));
    });
  }

  write(chunk: Uint8Array): number {
    this.chunks.push(chunk);
    this.written++;
    this.pulling?.();
    return this.written;
  }

  /** True once the reader asked for more after receiving chunk number `count`. */
  consumed(count: number): boolean {
    return this.closed || (this.handedOut >= count && this.pulling !== undefined);
  }

  onProgress(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.end();
    this.controller.close();
  }

  private pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> | undefined {
    const next = this.chunks.shift();
    if (next !== undefined) {
      controller.enqueue(next);
      this.handedOut++;
      this.notify();
      return undefined;
    }
    return new Promise((resolve) => {
      this.pulling = () => {
        this.pulling = undefined;
        const chunk = this.chunks.shift();
        if (chunk !== undefined && !this.closed) {
          controller.enqueue(chunk);
          this.handedOut++;
        }
        resolve();
      };
      this.notify();
    });
  }

  private end(): void {
    this.closed = true;
    this.pulling = undefined;
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** What the client knows about an SSE route, for bulk accounting. */
export interface SSERouteInfo {
  readonly name: string;
  readonly bulkSize: number;
  readonly flushInterval: number;
}

/**
 * Where a route's partial bulk stands, mirrored from its options: `BulkPipeline` flushes when the
 * bulk is full, when its oldest event has waited `flushInterval`, and on a disconnect.
 */
class BulkModel {
  waiting = 0;
  private since = 0;

  constructor(private readonly route: SSERouteInfo) {}

  read(count: number, now: number): void {
    if (this.waiting > 0 && now - this.since >= this.route.flushInterval) this.waiting = 0;
    for (let i = 0; i < count; i++) {
      if (this.waiting === 0) this.since = now;
      if (++this.waiting >= this.route.bulkSize) this.waiting = 0;
    }
  }

  /** Before reading: a timer flush may have happened meanwhile; never above what is in flight. */
  resync(inFlight: number, now: number): void {
    if (this.waiting > 0 && now - this.since >= this.route.flushInterval) this.waiting = 0;
    this.waiting = Math.min(this.waiting, inFlight);
  }

  flushed(): void {
    this.waiting = 0;
  }
}

class Feed {
  readonly connectionLog: SSEConnectionInfo[] = [];
  current: FeedConnection | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly url: string,
    readonly path: string,
    readonly route: SSERouteInfo,
    readonly model: BulkModel,
  ) {}

  open(init: RequestInit | undefined): Response {
    const headers: Record<string, string> = {};
    for (const [name, value] of new Headers(init?.headers)) headers[name] = value;
    this.connectionLog.push({ headers });
    const connection = new FeedConnection(init?.signal);
    this.current = connection;
    for (const waiter of [...this.waiters]) waiter();
    return new Response(connection.body, {
      status: 200,
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  }

  connected(): FeedConnection | undefined {
    const connection = this.current;
    return connection !== undefined && !connection.closed ? connection : undefined;
  }
}

function requestUrl(input: string | URL | Request): string {
  if (typeof input === "string") return new URL(input).href;
  if (input instanceof URL) return input.href;
  return input.url;
}

/** The SSE side of one test client. */
export class SSEFeeds implements TestSSE {
  private readonly owned = new Map<string, Feed>();

  constructor(
    private readonly start: () => Promise<void>,
    private readonly routeHealth: (name: string) => RouteHealth | undefined,
  ) {}

  /**
   * The `fetch` of this client's app: a request for one of its streams gets the feed; any other
   * request goes to the real `fetch`. Only this app's SSE connections use it (never the process's
   * global `fetch`), so test clients running at once never see each other's streams.
   */
  readonly fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const feed = this.owned.get(requestUrl(input));
    if (feed === undefined) return globalThis.fetch(input, init);
    return feed.open(init);
  }) as typeof fetch;

  /** Claims the app's stream URLs; before the app starts. */
  attach(streams: ReadonlyArray<{ url: string; path: string; route: SSERouteInfo }>): void {
    const models = new Map<string, BulkModel>();
    for (const { url, path, route } of streams) {
      let model = models.get(route.name);
      if (model === undefined) {
        model = new BulkModel(route);
        models.set(route.name, model);
      }
      const feed = new Feed(url, path, route, model);
      this.owned.set(url, feed);
    }
  }

  detach(): void {
    for (const feed of this.owned.values()) feed.current?.close();
    this.owned.clear();
  }

  async emit(
    path: string,
    events: readonly SSEEventInit[],
    options: WaitOptions = {},
  ): Promise<SSEEmitResult> {
    if (!Array.isArray(events)) {
      throw new TestClientError("WEIR_ERR_TEST_BAD_ARGUMENT", "emit(path, events): events must be an array");
    }
    knownKeys("emit", options, ["timeout"]);
    const frames = events.map(frame);
    await this.start();
    const feed = this.feed(path);
    const deadline = new RealDeadline(options.timeout ?? 10_000);
    const connection = await this.until(
      () => feed.connected(),
      deadline,
      () =>
        `the stream ${feed.url} is not connected: weir reconnects after its backoff (advance fake timers ` +
        "after a disconnect)",
    );
    const before = this.health(feed);
    feed.model.resync(numberOf(before.inFlight), Date.now());
    let last = 0;
    const text = frames.map((each) => each.text).join("");
    if (text !== "") last = connection.write(encoder.encode(text));
    for (let i = 0; i < PADDING; i++) last = connection.write(new Uint8Array(0));
    await this.until(
      () => connection.consumed(last) || undefined,
      deadline,
      () => `the route did not read the events within the timeout (is its handler stuck?)`,
    );
    const read = frames.filter((each) => each.counts).length;
    feed.model.read(read, Date.now());
    try {
      await this.until(
        () => numberOf(this.health(feed).inFlight) <= feed.model.waiting || undefined,
        deadline,
        () => "the route's handler did not finish the events within the timeout",
      );
    } finally {
      deadline.cancel();
    }
    const after = this.health(feed);
    return {
      read,
      handled: numberOf(after.handled) - numberOf(before.handled),
      failedBulks: numberOf(after.failedBulks) - numberOf(before.failedBulks),
      waiting: feed.model.waiting,
    };
  }

  async disconnect(path: string): Promise<void> {
    await this.start();
    const feed = this.feed(path);
    const connection = feed.connected();
    if (connection === undefined) return;
    connection.close();
    // weir flushes the route's whole pipeline on a disconnect, whichever of its streams dropped.
    feed.model.flushed();
  }

  connections(path: string): readonly SSEConnectionInfo[] {
    return [...this.feed(path).connectionLog];
  }

  private feed(path: string): Feed {
    const direct = this.owned.get(path);
    if (direct !== undefined) return direct;
    const matches = [...this.owned.values()].filter((feed) => feed.path === path);
    if (matches.length === 1) return matches[0]!;
    throw new TestClientError(
      "WEIR_ERR_TEST_UNKNOWN_STREAM",
      matches.length === 0
        ? `no SSE route reads "${path}" (known: ${[...this.owned.values()].map((feed) => feed.path).join(", ") || "none"})`
        : `several SSE routes read "${path}"; pass the full URL (${matches.map((feed) => feed.url).join(", ")})`,
    );
  }

  private health(feed: Feed): RouteHealth {
    const health = this.routeHealth(feed.route.name);
    if (health === undefined) {
      throw new TestClientError(
        "WEIR_ERR_TEST_UNKNOWN_STREAM",
        `the app reports no SSE route ${feed.route.name}`,
      );
    }
    return health;
  }

  /**
   * Polls with real timers: the route's progress is only visible in its health, and fake timers
   * must not freeze the wait (weir's own timers stay on the clock the test controls).
   */
  private async until<T>(
    probe: () => T | undefined,
    deadline: RealDeadline,
    describe: () => string,
  ): Promise<T> {
    for (let spins = 0; ; spins++) {
      const value = probe();
      if (value !== undefined) return value;
      if (deadline.expired) throw new TestClientError("WEIR_ERR_TEST_TIMEOUT", describe());
      await realSleep(spins < 50 ? 0 : 2);
    }
  }
}

/** A deadline on the real clock: `Date` and `performance` may be faked by the test. */
class RealDeadline {
  expired = false;
  private readonly timer: ReturnType<typeof realTimeout>;

  constructor(ms: number) {
    this.timer = realTimeout(() => {
      this.expired = true;
    }, ms);
    this.timer.unref?.();
  }

  cancel(): void {
    clearRealTimeout(this.timer);
  }
}

function numberOf(value: unknown): number {
  return typeof value === "number" ? value : 0;
}
