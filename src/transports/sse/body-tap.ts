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
const RETRY_FIELD = Buffer.from("retry:", "latin1");
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
    // The usual chunk holds no "retry:" at all: when no field is half-matched from the chunk
    // before, no line that ends in this chunk can be one, and only the line left unfinished at its
    // end (after its last line end) needs the byte scan. Two native searches per chunk instead of
    // one per line (issue #19's SSE pair).
    if (this.state === SKIP || (this.state === PREFIX && this.matched === 0)) {
      const bytes = asBuffer(chunk);
      if (bytes.indexOf(RETRY_FIELD) === -1) {
        const lastEnd = Math.max(bytes.lastIndexOf(LF), bytes.lastIndexOf(CR));
        if (lastEnd === -1 && this.state === SKIP) return;
        if (lastEnd !== -1) {
          this.state = PREFIX;
          this.matched = 0;
          this.scan(chunk, lastEnd + 1);
          return;
        }
      }
    }
    this.scan(chunk, 0);
  }

  /** The byte scan, from `from` on. */
  private scan(chunk: Uint8Array, from: number): void {
    const ends = new LineEnds(chunk);
    for (let i = from; i < chunk.length; i++) {
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
    // The usual chunk: it cannot take the current event past the bound even if all of it belonged
    // to it, and it has no CR (so a blank line is two LFs). Then only the event left unfinished at
    // its end matters: the state after the chunk's last blank line is known (nothing counted, at the
    // start of a line), and the byte scan runs from there. Native searches, not one per line.
    if (this.eventBytes + this.lineBytes + chunk.length <= this.maxBytes) {
      const bytes = asBuffer(chunk);
      const after = lastBlankLine(bytes);
      if (after !== -1 && bytes.indexOf(CR) === -1) {
        this.eventBytes = 0;
        this.lineBytes = 0;
        this.line = LINE_START;
        this.afterCR = false;
        return this.scan(chunk, after);
      }
    }
    return this.scan(chunk, 0);
  }

  /** The byte scan, from `from` on (the state is the one before byte `from`). */
  private scan(chunk: Uint8Array, from: number): number {
    const max = this.maxBytes;
    const ends = new LineEnds(chunk);
    let boundary = 0;
    for (let i = from; i < chunk.length; i++) {
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

/** The chunk as a Buffer over the same bytes (no copy): its searches are native (memchr). */
function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The index just past the chunk's last blank line seen as two LFs in a row (`"\n\n"`), or -1.
 * For a chunk without CR, the state after it is fixed whatever came before: see EventSizeGuard.
 */
function lastBlankLine(bytes: Buffer): number {
  let lf = bytes.lastIndexOf(LF);
  while (lf > 0) {
    if (bytes[lf - 1] === LF) return lf + 1;
    lf = bytes.lastIndexOf(LF, lf - 1);
  }
  return -1;
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

/**
 * Wraps a response body; see the file comment. A pull source over the body's reader rather than
 * `pipeThrough` a `TransformStream`: the pipe's machinery (a read, a write and a transform promise,
 * two queues, per chunk) cost more than the scans (issue #19's SSE pair). It keeps one chunk read
 * ahead of the package (`highWaterMark` 1: without it the socket sat unread while the package
 * parsed, and the server waited), and reads nothing while the route is full.
 */
export function tapBody(
  body: ReadableStream<Uint8Array>,
  maxEventSize: number,
  listener: BodyTapListener,
): ReadableStream<Uint8Array> {
  const scanner = new RetryFieldScanner((ms) => listener.onRetry(ms));
  const guard = new EventSizeGuard(maxEventSize);
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // While the route is full, the socket is not read: TCP pushes back on the server instead of
        // memory growing. The bound is soft: the chunk read last may overshoot it.
        const room = listener.waitForRoom();
        if (room !== undefined) await room;
        // A failed read (the connection broke) errors this stream with the same reason.
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        listener.onChunk();
        const whole = guard.feed(value);
        if (whole !== -1) {
          // The events before the oversized one still reach the parser; the rest is never read,
          // and the response is cancelled.
          const kept = value.subarray(0, whole);
          scanner.feed(kept);
          if (kept.length > 0) controller.enqueue(kept);
          listener.onOversizedEvent();
          controller.close();
          reader.cancel().catch(() => {});
          return;
        }
        scanner.feed(value);
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 1 },
  );
}
