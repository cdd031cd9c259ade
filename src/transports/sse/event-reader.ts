/**
 * What weir puts around `eventsource-parser` for one connection's body: the UTF-8 decoding, a
 * bound on the event being received (the parser buffers an unfinished line or event without
 * limit, so a server that never ends one would fill the worker's memory), and the line a CR ends
 * as the last byte of the body. The parser stays the one event parser; `retry:` reaches weir
 * through its `onRetry`.
 */

import type { createParser, EventSourceMessage, EventSourceParser } from "eventsource-parser";

const LF = 10;
const CR = 13;

/**
 * The line ends (CR or LF) of one chunk, found with the native `indexOf` rather than a JavaScript
 * loop over every byte: the guard below only needs to stop where a line ends (issue #19's SSE
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

/** `createParser` of `eventsource-parser`, loaded when the first stream connects. */
export type CreateParser = typeof createParser;

const STREAM = { stream: true } as const;

/**
 * One connection's body, chunk by chunk, into `eventsource-parser`: bounded by `maxEventSize`,
 * decoded as UTF-8 (a leading BOM dropped, a character split across chunks kept whole). Events and
 * `retry:` values come out of the parser's callbacks, synchronously within `feed`.
 */
export class EventStreamReader {
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser;
  private readonly guard: EventSizeGuard;
  /** The last byte fed was a CR. */
  private endsWithCR = false;

  constructor(
    create: CreateParser,
    maxEventSize: number,
    onEvent: (event: EventSourceMessage) => void,
    onRetry: (ms: number) => void,
  ) {
    // No onError: an unknown field or an invalid retry value is ignored, as the spec says.
    this.parser = create({ onEvent, onRetry });
    this.guard = new EventSizeGuard(maxEventSize);
  }

  /**
   * Feeds one chunk. Returns false when an event outgrew `maxEventSize`: the whole events before it
   * were fed, and nothing more of the body may be.
   */
  feed(chunk: Uint8Array): boolean {
    const whole = this.guard.feed(chunk);
    const bytes = whole === -1 ? chunk : chunk.subarray(0, whole);
    if (bytes.length > 0) {
      this.endsWithCR = bytes[bytes.length - 1] === CR;
      this.parser.feed(this.decoder.decode(bytes, STREAM));
    }
    return whole === -1;
  }

  /**
   * The body ended (or was cut after an oversized event's predecessors). A CR ends a line, but the
   * parser holds a CR that ends its input until it sees the next character (it may be a CRLF): no
   * byte follows now, so the line is ended for it. What is still unfinished is dropped, as the spec
   * says of an incomplete event at the end of the stream.
   */
  end(): void {
    if (this.endsWithCR) {
      this.endsWithCR = false;
      this.parser.feed("\n");
    }
  }
}
