import type { EventSourceMessage } from "eventsource-parser";
import { hasEssence } from "../../core/codec/media-type.js";
import { SSEHTTPStatusError, SSEStreamError } from "./errors.js";
import { type CreateParser, EventStreamReader } from "./event-reader.js";

/** What one connection reports to its stream. */
export interface ConnectionListener {
  /** The server answered 200 with `text/event-stream`: events may follow. */
  onOpen(): void;
  /**
   * An event of any name (`id` is the event's own `id:` field, `undefined` when it had none),
   * `receivedAt` when the bytes that ended it arrived (ms since the epoch).
   */
  onEvent(name: string, data: string, id: string | undefined, receivedAt: number): void;
  /** The server sent a `retry:` field (ms). */
  onRetry(ms: number): void;
  /** `undefined` when the route has room for more events, else a promise resolved once it has. */
  waitForRoom(): Promise<void> | undefined;
}

/**
 * The `fetch` a transport's connections use: the global one, or what weir/testing puts in its place
 * for one app (never the process's global `fetch`).
 */
export interface Fetcher {
  fetch: typeof fetch;
}

/** A Fetcher that uses the global `fetch` as it is at each call. */
export function globalFetcher(): Fetcher {
  return { fetch: (input, init) => globalThis.fetch(input, init) };
}

/** What bounds one connection. */
export interface ConnectionLimits {
  /** Where requests go. */
  readonly fetcher: Fetcher;
  /** ms without a byte before the connection is dropped; `undefined`: never. */
  readonly idleTimeout: number | undefined;
  /** Bytes an event may reach before it ends; past them the connection is dropped. */
  readonly maxEventSize: number;
}

let parser: Promise<CreateParser> | undefined;

/**
 * `createParser` of `eventsource-parser`, imported when the first stream connects rather than with
 * weir (issue #16: an app without SSE routes never loads it).
 */
export function loadParser(): Promise<CreateParser> {
  parser ??= import("eventsource-parser").then((module) => module.createParser);
  return parser;
}

const EVENT_STREAM = "text/event-stream";

/**
 * Why a fetch or a read failed, with the causes undici puts under its "fetch failed" and
 * "terminated" (the server's side closed, the connection was refused...).
 */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if ("errors" in error && Array.isArray(error.errors)) return error.errors.map(describe).join(", ");
  if (error.cause instanceof Error) return `${String(error)}: ${describe(error.cause)}`;
  return error.message;
}

/**
 * One connection attempt to one stream: weir's own `fetch` (through the transport's Fetcher) and
 * read loop, the body fed to `eventsource-parser`. It never reconnects by itself: the stream's loop
 * decides when and how, with a new connection each time (and its own `Last-Event-ID`). Reading
 * stops while the route is full, so TCP pushes back on the server instead of memory growing.
 */
export class SSEConnection {
  /** Resolves once the connection is over: with why, or `undefined` when weir closed it. */
  readonly ended: Promise<SSEStreamError | undefined>;
  private settle!: (error: SSEStreamError | undefined) => void;
  private readonly abort = new AbortController();
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private finished = false;
  /** Not reading because the route is full: silence is then weir's doing, not the server's. */
  private paused = false;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  /** When the last chunk of the body arrived: the time of the events it ends (a clock read per chunk, not per event). */
  private receivedAt = 0;

  /**
   * @param createParser - what `loadParser()` resolved with
   * @param url - the stream URL, without credentials
   * @param safeUrl - the same URL for logs and errors (redacted)
   * @param headers - this attempt's headers (auth, user headers, `Last-Event-ID`)
   */
  constructor(
    createParser: CreateParser,
    url: URL,
    private readonly safeUrl: string,
    headers: Headers,
    limits: ConnectionLimits,
    listener: ConnectionListener,
  ) {
    const { idleTimeout } = limits;
    this.ended = new Promise((resolve) => {
      this.settle = resolve;
    });
    if (idleTimeout !== undefined) {
      this.idleTimer = setTimeout(() => {
        if (this.paused) {
          this.touch();
          return;
        }
        this.end(
          new SSEStreamError("WEIR_ERR_SSE_IDLE_TIMEOUT", safeUrl, `nothing received for ${idleTimeout} ms`),
        );
      }, idleTimeout);
    }
    void this.run(createParser, url, headers, limits, listener);
  }

  /** Closes the connection on weir's side (stop, or a route halted by its handler). */
  close(): void {
    this.end(undefined);
  }

  private touch(): void {
    // refresh() would re-arm a cleared timer: only while the connection lives.
    if (!this.finished) this.idleTimer?.refresh();
  }

  private async run(
    createParser: CreateParser,
    url: URL,
    headers: Headers,
    limits: ConnectionLimits,
    listener: ConnectionListener,
  ): Promise<void> {
    const safeUrl = this.safeUrl;
    let response: Response;
    try {
      const request = new Headers(headers);
      if (!request.has("accept")) request.set("accept", EVENT_STREAM);
      response = await limits.fetcher.fetch(url, {
        headers: request,
        redirect: "follow",
        signal: this.abort.signal,
      });
    } catch (cause) {
      this.end(new SSEStreamError("WEIR_ERR_SSE_NETWORK", safeUrl, describe(cause)));
      return;
    }
    const body = response.body;
    if (this.finished) {
      await body?.cancel().catch(() => {});
      return;
    }
    this.touch();
    const contentType = response.headers.get("content-type");
    if (response.status !== 200 || !hasEssence(contentType, EVENT_STREAM)) {
      // Not a stream to read: release the socket now.
      await body?.cancel().catch(() => {});
      this.end(
        response.status !== 200
          ? new SSEHTTPStatusError(safeUrl, response.status)
          : new SSEStreamError(
              "WEIR_ERR_SSE_CONTENT_TYPE",
              safeUrl,
              `expected text/event-stream, got ${contentType ?? "no content type"}`,
            ),
      );
      return;
    }
    try {
      listener.onOpen();
      if (body === null) {
        this.end(new SSEStreamError("WEIR_ERR_SSE_DISCONNECTED", safeUrl, "the response has no body"));
        return;
      }
      const reader = body.getReader();
      this.reader = reader;
      const events = new EventStreamReader(
        createParser,
        limits.maxEventSize,
        (event: EventSourceMessage) => {
          if (this.finished) return;
          // An empty `event:` or `id:` is none (the parser gives "" for an empty id).
          listener.onEvent(event.event || "message", event.data, event.id || undefined, this.receivedAt);
        },
        (ms) => listener.onRetry(ms),
      );
      while (!this.finished) {
        const room = listener.waitForRoom();
        if (room !== undefined) {
          this.paused = true;
          await room;
          this.paused = false;
          if (this.finished) break;
          this.touch();
        }
        const { done, value } = await reader.read();
        if (this.finished) break;
        if (done) {
          events.end();
          this.end(new SSEStreamError("WEIR_ERR_SSE_DISCONNECTED", safeUrl, "the server closed the stream"));
          break;
        }
        this.receivedAt = Date.now();
        this.touch();
        if (!events.feed(value)) {
          // The events before the oversized one were handed on; the rest is never read.
          events.end();
          this.end(
            new SSEStreamError(
              "WEIR_ERR_SSE_EVENT_TOO_LARGE",
              safeUrl,
              `an event grew past maxEventSize (${limits.maxEventSize} bytes) before it ended; the connection was dropped`,
            ),
          );
        }
      }
    } catch (cause) {
      // The connection broke mid-read (or the route's callbacks threw): the stream is lost.
      this.end(new SSEStreamError("WEIR_ERR_SSE_DISCONNECTED", safeUrl, describe(cause)));
    }
  }

  private end(error: SSEStreamError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idleTimer);
    // Releases the socket: a pending fetch rejects, a pending read ends; both are ignored now.
    this.abort.abort();
    this.reader?.cancel().catch(() => {});
    this.settle(error);
  }
}
