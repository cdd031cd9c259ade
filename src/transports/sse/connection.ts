import type { ErrorEvent, EventSource, FetchLike } from "eventsource";
import { hasEssence } from "../../core/codec/media-type.js";
import { tapBody } from "./body-tap.js";
import { SSEHTTPStatusError, SSEStreamError } from "./errors.js";

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

/** What bounds one connection. */
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

export interface ConnectionLimits {
  /** Where requests go. */
  readonly fetcher: Fetcher;
  /** ms without a byte before the connection is dropped; `undefined`: never. */
  readonly idleTimeout: number | undefined;
  /** Bytes an event may reach before it ends; past them the connection is dropped. */
  readonly maxEventSize: number;
}

/** An `EventSource` that hands every server event to one callback (see `loadEventSource`). */
export type CatchAllEventSource = new (
  url: URL,
  fetch: FetchLike,
  onMessage: (event: MessageEvent) => void,
) => EventSource;

let catchAll: Promise<CatchAllEventSource> | undefined;

/**
 * The `eventsource` package, imported when the first stream connects rather than with weir (issue
 * #16: an app without SSE routes never loads it), and its `EventSource` subclass built once.
 *
 * `EventSource` dispatches each event under its own name, and `addEventListener` needs the names in
 * advance. Every event goes through `dispatchEvent`, the standard EventTarget path, so overriding it
 * sees every name. Server events are `MessageEvent`s; the package's own `open` and `error` are plain
 * `Event`s, so a server event named "error" is still an event, not a connection failure.
 */
export function loadEventSource(): Promise<CatchAllEventSource> {
  catchAll ??= import("eventsource").then(
    ({ EventSource }) =>
      class extends EventSource {
        private readonly onMessage: (event: MessageEvent) => void;

        constructor(url: URL, fetch: FetchLike, onMessage: (event: MessageEvent) => void) {
          super(url, { fetch });
          this.onMessage = onMessage;
        }

        override dispatchEvent(event: Event): boolean {
          if (event instanceof MessageEvent) {
            this.onMessage(event);
            return true;
          }
          return super.dispatchEvent(event);
        }
      },
  );
  return catchAll;
}

const EVENT_STREAM = "text/event-stream";

/**
 * The response's headers as the `eventsource` package must see them. It accepts a stream only when
 * `Content-Type` starts with exactly `text/event-stream`, but media types are case-insensitive
 * (RFC 9110 §8.3.1): `Text/Event-Stream; charset=UTF-8` is an event stream. weir has already
 * checked the type with core's parser, so the package gets the canonical spelling.
 */
function canonicalHeaders(headers: Headers, contentType: string | null): Headers {
  if (contentType?.startsWith(EVENT_STREAM)) return headers;
  const copy = new Headers(headers);
  copy.set("content-type", EVENT_STREAM);
  return copy;
}

/**
 * One connection attempt to one stream, on one `EventSource` instance that never reconnects by
 * itself: the package's fixed-interval retry and its give-up on 401/403/404 are not what a worker
 * wants, so the stream's loop decides when and how to reconnect, with a new connection each time.
 */
export class SSEConnection {
  /** Resolves once the connection is over: with why, or `undefined` when weir closed it. */
  readonly ended: Promise<SSEStreamError | undefined>;
  private settle!: (error: SSEStreamError | undefined) => void;
  private readonly source: EventSource;
  private opened = false;
  private finished = false;
  /** Not reading because the route is full: silence is then weir's doing, not the server's. */
  private paused = false;
  private response: { status: number; contentType: string | null; eventStream: boolean } | undefined;
  /** Set when the body was ended because an event outgrew `maxEventSize`. */
  private oversized: SSEStreamError | undefined;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  /** When the last chunk of the body arrived: the time of the events it ends (a clock read per chunk, not per event). */
  private receivedAt = 0;
  private readonly touch = (): void => {
    // refresh() would re-arm a cleared timer: only while the connection lives.
    if (!this.finished) this.idleTimer?.refresh();
  };

  /**
   * @param url - the stream URL, without credentials
   * @param safeUrl - the same URL for logs and errors (redacted)
   * @param headers - this attempt's headers (auth, user headers, `Last-Event-ID`)
   * @param Source - what `loadEventSource()` resolved with
   */
  constructor(
    Source: CatchAllEventSource,
    url: URL,
    private readonly safeUrl: string,
    headers: Headers,
    limits: ConnectionLimits,
    listener: ConnectionListener,
  ) {
    const { idleTimeout, maxEventSize } = limits;
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
        this.source.close();
      }, idleTimeout);
    }
    const fetchStream: FetchLike = async (input, init) => {
      const merged = new Headers(init.headers);
      for (const [name, value] of headers) merged.set(name, value);
      const response = await limits.fetcher.fetch(input, { ...init, headers: merged });
      const contentType = response.headers.get("content-type");
      const eventStream = hasEssence(contentType, EVENT_STREAM);
      this.response = { status: response.status, contentType, eventStream };
      this.touch();
      if (response.status !== 200 || !eventStream || response.body === null) {
        // The package fails the connection without reading the body; release the socket now.
        await response.body?.cancel().catch(() => {});
        return {
          status: response.status,
          url: response.url,
          redirected: response.redirected,
          headers: response.headers,
          body: null,
        };
      }
      return {
        status: response.status,
        url: response.url,
        redirected: response.redirected,
        headers: canonicalHeaders(response.headers, contentType),
        body: tapBody(response.body, maxEventSize, {
          onChunk: () => {
            this.receivedAt = Date.now();
            this.touch();
          },
          onOversizedEvent: () => {
            // Reported when the package sees the body end, after the events before this one.
            this.oversized = new SSEStreamError(
              "WEIR_ERR_SSE_EVENT_TOO_LARGE",
              safeUrl,
              `an event grew past maxEventSize (${maxEventSize} bytes) before it ended; the connection was dropped`,
            );
          },
          onRetry: (ms) => listener.onRetry(ms),
          waitForRoom: () => {
            const wait = listener.waitForRoom();
            if (wait === undefined) return undefined;
            this.paused = true;
            return wait.then(() => {
              this.paused = false;
              this.touch();
            });
          },
        }),
      };
    };
    this.source = new Source(url, fetchStream, (event) => {
      if (this.finished) return;
      const id = event.lastEventId === "" ? undefined : event.lastEventId;
      listener.onEvent(event.type, String(event.data), id, this.receivedAt);
    });
    this.source.onopen = () => {
      if (this.finished) return;
      this.opened = true;
      listener.onOpen();
    };
    this.source.onerror = (event: ErrorEvent) => this.end(this.failure(event));
  }

  /** Closes the connection on weir's side (stop, or a route halted by its handler). */
  close(): void {
    this.end(undefined);
    this.source.close();
  }

  private failure(event: ErrorEvent): SSEStreamError {
    if (this.oversized !== undefined) return this.oversized;
    const reason = event.message;
    if (this.opened) {
      return new SSEStreamError(
        "WEIR_ERR_SSE_DISCONNECTED",
        this.safeUrl,
        reason ?? "the server closed the stream",
      );
    }
    const response = this.response;
    if (response === undefined) {
      return new SSEStreamError("WEIR_ERR_SSE_NETWORK", this.safeUrl, reason ?? "could not connect");
    }
    if (response.status !== 200) return new SSEHTTPStatusError(this.safeUrl, response.status);
    if (!response.eventStream) {
      return new SSEStreamError(
        "WEIR_ERR_SSE_CONTENT_TYPE",
        this.safeUrl,
        `expected text/event-stream, got ${response.contentType ?? "no content type"}`,
      );
    }
    return new SSEStreamError("WEIR_ERR_SSE_NETWORK", this.safeUrl, reason ?? "the connection failed");
  }

  private end(error: SSEStreamError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idleTimer);
    // On a dropped stream the package dispatches 'error' and only then arms its own reconnect
    // timer; closing on the next microtask clears that timer, so only weir's loop reconnects.
    queueMicrotask(() => this.source.close());
    this.settle(error);
  }
}
