/**
 * A pass-through on the response body, between fetch and the `eventsource` package. The package
 * parses `retry:` but keeps it private (and weir owns the reconnect loop, so it needs that value),
 * it does not say when bytes arrive (weir's idle timeout needs that), and it reads as fast as the
 * server writes (weir must stop reading while its route has too many events pending). The tap
 * forwards every chunk untouched, scans for `retry:` lines, and holds further reads while the route
 * is full, so TCP pushes back on the server instead of memory growing. The package stays the one
 * event parser.
 */

const LF = 10;
const CR = 13;
const SPACE = 32;
const RETRY = [114, 101, 116, 114, 121, 58]; // "retry:"
/** A longer retry value is not a delay anyone means; ignoring it keeps the state bounded. */
const MAX_DIGITS = 10;

/** Matching "retry:" from the start of a line; `matched` bytes so far. */
const PREFIX = 0;
/** After "retry:", reading digits. */
const VALUE = 1;
/** In a line that is not a valid retry field: wait for its end. */
const SKIP = 2;

/**
 * Finds `retry:` fields in an event stream, byte by byte, across chunk boundaries. Per the SSE
 * spec a field line is `retry:` + optional single space + ASCII digits only; anything else in the
 * line makes it invalid. Works on bytes: UTF-8 never encodes a non-ASCII character with ASCII bytes.
 */
export class RetryFieldScanner {
  private state = PREFIX;
  private matched = 0;
  private digits = "";
  private afterColon = false;

  constructor(private readonly onRetry: (ms: number) => void) {}

  feed(chunk: Uint8Array): void {
    for (const byte of chunk) {
      if (byte === LF || byte === CR) {
        // A CRLF pair ends the line at CR; the LF then ends an empty line, harmless here.
        if (this.state === VALUE && this.digits.length > 0) this.onRetry(Number(this.digits));
        this.state = PREFIX;
        this.matched = 0;
        continue;
      }
      if (this.state === SKIP) continue;
      if (this.state === PREFIX) {
        if (byte !== RETRY[this.matched]) {
          this.state = SKIP;
        } else if (++this.matched === RETRY.length) {
          this.state = VALUE;
          this.digits = "";
          this.afterColon = true;
        }
        continue;
      }
      const first = this.afterColon;
      this.afterColon = false;
      if (first && byte === SPACE) continue;
      if (byte >= 48 && byte <= 57 && this.digits.length < MAX_DIGITS) {
        this.digits += String.fromCharCode(byte);
      } else {
        this.state = SKIP;
      }
    }
  }
}

export interface BodyTapListener {
  /** Bytes arrived. */
  onChunk(): void;
  /** The server sent a `retry:` field (ms). */
  onRetry(ms: number): void;
  /** `undefined` when the route has room for more events, else a promise resolved once it has. */
  waitForRoom(): Promise<void> | undefined;
}

/** Wraps a response body; see the file comment. */
export function tapBody(
  body: ReadableStream<Uint8Array>,
  listener: BodyTapListener,
): ReadableStream<Uint8Array> {
  const scanner = new RetryFieldScanner((ms) => listener.onRetry(ms));
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        listener.onChunk();
        scanner.feed(chunk);
        controller.enqueue(chunk);
        // A pending transform stops the pipe from reading the socket: the bound is soft (one chunk
        // of events may overshoot it) but memory no longer follows a fast server.
        return listener.waitForRoom();
      },
    }),
  );
}
