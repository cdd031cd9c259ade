/**
 * A pass-through on the response body, between fetch and the `eventsource` package. The package
 * parses `retry:` but keeps it private (and weir owns the reconnect loop, so it needs that value),
 * it does not say when bytes arrive (weir's idle timeout needs that), it reads as fast as the
 * server writes (weir must stop reading while its route has too many events pending), and it
 * buffers an unfinished line or event without limit (a server that never ends one would fill the
 * worker's memory). The tap forwards every chunk untouched, scans for `retry:` lines, holds further
 * reads while the route is full, so TCP pushes back on the server instead of memory growing, and
 * ends the body before an event outgrows its bound. The package stays the one event parser.
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
    const ends = new LineEnds(chunk);
    for (let i = 0; i < chunk.length; i++) {
      // Most lines are not retry fields: jump to the line's end natively, not byte by byte.
      if (this.state === SKIP) {
        i = ends.next(i);
        if (i === -1) return;
      }
      const byte = chunk[i]!;
      if (byte === LF || byte === CR) {
        // A CRLF pair ends the line at CR; the LF then ends an empty line, harmless here.
        if (this.state === VALUE && this.digits.length > 0) this.onRetry(Number(this.digits));
        this.state = PREFIX;
        this.matched = 0;
        continue;
      }
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

/**
 * The line ends (CR or LF) of one chunk, found with the native `indexOf` rather than a JavaScript
 * loop over every byte: the scanners below only need to stop where a line ends (issue #19's SSE
 * pair: the byte loops were weir's largest cost per event). The next CR is remembered, so a chunk
 * without any (the usual LF-only stream) is searched for one once, not once per line.
 */
class LineEnds {
  /** Position of the next CR at or after the last search; -1: none left; -2: not searched yet. */
  private cr = -2;

  constructor(private readonly chunk: Uint8Array) {}

  /** Index of the first CR or LF at or after `from`, or -1 when the chunk has none. */
  next(from: number): number {
    if (this.cr !== -1 && this.cr < from) this.cr = this.chunk.indexOf(CR, from);
    const lf = this.chunk.indexOf(LF, from);
    if (this.cr === -1) return lf;
    return lf === -1 ? this.cr : Math.min(lf, this.cr);
  }
}

/** Where the current line started: at the start of a line, in a comment, in a field line. */
const LINE_START = 0;
const IN_COMMENT = 1;
const IN_FIELD = 2;
const COLON = 58;

/**
 * Measures the event being received, byte by byte, across chunks: the bytes of its field lines so
 * far plus the line in progress, which is what the parser holds for it. A blank line ends the
 * event. A comment line (`:` first) is dropped by the parser once complete, so it counts only while
 * unfinished (a keep-alive comment between events never adds up). Line ends are CR, LF or CRLF.
 */
export class EventSizeGuard {
  private eventBytes = 0;
  private lineBytes = 0;
  private line = LINE_START;
  private afterCR = false;

  constructor(private readonly maxBytes: number) {}

  /**
   * Feeds a chunk; returns -1 when the current event is within the bound, else how many bytes of
   * the chunk are whole events (those may still go to the parser; the rest belongs to the event
   * that outgrew the bound).
   */
  feed(chunk: Uint8Array): number {
    const max = this.maxBytes;
    const ends = new LineEnds(chunk);
    let boundary = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === LF || byte === CR) {
        // The LF of a CRLF pair ends the line the CR already ended.
        if (byte === LF && this.afterCR) {
          this.afterCR = false;
          if (this.line === LINE_START) boundary = i + 1;
          continue;
        }
        this.afterCR = byte === CR;
        if (this.line === LINE_START) {
          this.eventBytes = 0;
          boundary = i + 1;
        } else if (this.line === IN_FIELD) {
          this.eventBytes += this.lineBytes + 1;
        }
        this.line = LINE_START;
        this.lineBytes = 0;
        continue;
      }
      this.afterCR = false;
      if (this.line === LINE_START) this.line = byte === COLON ? IN_COMMENT : IN_FIELD;
      // The rest of the line in this chunk counts byte for byte: add it at once, then go on at its
      // end (the sum only grows, so checking it after the run is checking every byte of it).
      const end = ends.next(i);
      const stop = end === -1 ? chunk.length : end;
      this.lineBytes += stop - i;
      if (this.lineBytes + this.eventBytes > max) return boundary;
      i = stop - 1;
    }
    return -1;
  }
}

export interface BodyTapListener {
  /** Bytes arrived. */
  onChunk(): void;
  /** The server sent a `retry:` field (ms). */
  onRetry(ms: number): void;
  /** `undefined` when the route has room for more events, else a promise resolved once it has. */
  waitForRoom(): Promise<void> | undefined;
  /** An event outgrew `maxEventSize`: the body ends after the events before it. */
  onOversizedEvent(): void;
}

/** Wraps a response body; see the file comment. */
export function tapBody(
  body: ReadableStream<Uint8Array>,
  maxEventSize: number,
  listener: BodyTapListener,
): ReadableStream<Uint8Array> {
  const scanner = new RetryFieldScanner((ms) => listener.onRetry(ms));
  const guard = new EventSizeGuard(maxEventSize);
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        listener.onChunk();
        const whole = guard.feed(chunk);
        if (whole !== -1) {
          // The events before the oversized one still reach the parser (terminate, unlike error,
          // delivers what is queued); the rest is never read, and the response is cancelled.
          const kept = chunk.subarray(0, whole);
          scanner.feed(kept);
          if (kept.length > 0) controller.enqueue(kept);
          listener.onOversizedEvent();
          controller.terminate();
          return;
        }
        scanner.feed(chunk);
        controller.enqueue(chunk);
        // A pending transform stops the pipe from reading the socket: the bound is soft (one chunk
        // of events may overshoot it) but memory no longer follows a fast server.
        return listener.waitForRoom();
      },
    }),
  );
}
