import { createParser } from "eventsource-parser";
import { describe, expect, it } from "vitest";
import { EventSizeGuard, EventStreamReader } from "../../src/transports/sse/event-reader.js";
import { streamUrl } from "../../src/transports/sse/route-spec.js";

/** The `retry:` values a connection's reader reports for a body cut into `chunks`, up to its end. */
function scan(...chunks: string[]): number[] {
  const found: number[] = [];
  const reader = new EventStreamReader(
    createParser,
    1 << 20,
    () => {},
    (ms) => found.push(ms),
  );
  for (const chunk of chunks) reader.feed(new TextEncoder().encode(chunk));
  reader.end();
  return found;
}

/** What the guard says for each chunk: -1 within the bound, else the bytes of whole events kept. */
function guard(max: number, ...chunks: string[]): number[] {
  const sizes = new EventSizeGuard(max);
  return chunks.map((chunk) => sizes.feed(new TextEncoder().encode(chunk)));
}

describe("the event size guard (issue 15.5)", () => {
  it("counts an event's field lines up to the blank line, with LF, CR or CRLF line ends", () => {
    // "data: 12345678\n" is 15 bytes: two of them pass a bound of 30, a third line does not.
    expect(guard(30, "data: 12345678\ndata: 12345678\n\n")).toEqual([-1]);
    expect(guard(30, "data: 12345678\r\ndata: 12345678\r\n\r\n", "data: 12345678\r\r")).toEqual([-1, -1]);
    expect(guard(30, "data: 12345678\ndata: 12345678\nd")).toEqual([0]);
    expect(guard(30, "id: 1\n\ndata: 12345678\ndata: 12345678\ndata")).toEqual([7]);
  });

  it("bounds one line that never ends, across chunks, and keeps the whole events before it", () => {
    expect(guard(10, "data: 1\n\ndat", "a: 123", "456")).toEqual([-1, -1, 0]);
    expect(guard(10, "data: 1\n\ndata: 12345")).toEqual([9]);
  });

  it("does not count comment lines once they end, so keep-alives never add up", () => {
    const keepAlives = Array.from({ length: 1000 }, () => ": keep-alive\n");
    expect(guard(20, ...keepAlives, "data: 1234567890\n\n").every((result) => result === -1)).toBe(true);
    // An unfinished comment is buffered by the parser like any line: it counts until it ends.
    expect(guard(20, `: ${"c".repeat(30)}`)).toEqual([0]);
  });
});

describe("the retry: field, as the connection's reader reports it", () => {
  it("finds retry fields, with or without the space, ended by LF, CR or CRLF", () => {
    expect(scan("retry: 1500\n", "retry:20\r", "retry: 3\r\n")).toEqual([1500, 20, 3]);
  });

  it("finds a field split across chunks at any byte", () => {
    const text = "data: x\n\nretry: 2500\n\n";
    for (let cut = 0; cut <= text.length; cut++) {
      expect(scan(text.slice(0, cut), text.slice(cut))).toEqual([2500]);
    }
  });

  it("ignores invalid values, retry not at the start of a line, and unfinished lines", () => {
    expect(
      scan(
        "retry: 12a\n",
        "retry:  5\n",
        "retry: \n",
        "retry\n",
        "data: retry: 5\n",
        ": retry: 5\n",
        "retry: -1\n",
      ),
    ).toEqual([]);
    expect(scan("retry: 99")).toEqual([]);
    expect(scan("data: é\nretry: 7\n")).toEqual([7]);
  });
});

/** What the reader hands on for a body cut into `chunks`: events, and whether each chunk was within the bound. */
function read(max: number, ...chunks: Array<string | Uint8Array>): { events: string[]; fed: boolean[] } {
  const events: string[] = [];
  const reader = new EventStreamReader(
    createParser,
    max,
    (event) => events.push(`${event.event ?? "-"}|${event.id ?? "-"}|${event.data}`),
    () => {},
  );
  const fed: boolean[] = [];
  for (const chunk of chunks) {
    const ok = reader.feed(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
    fed.push(ok);
    if (!ok) break;
  }
  reader.end();
  return { events, fed };
}

describe("the connection's reader around eventsource-parser", () => {
  it("hands on each event with its own name, id and data, and drops an unfinished one at the end", () => {
    expect(read(1000, "event: a\nid: 7\ndata: x\ndata: y\n\ndata: z\n\n", "data: cut").events).toEqual([
      "a|7|x\ny",
      "-|-|z",
    ]);
  });

  it("decodes UTF-8 split across chunks and drops a leading BOM", () => {
    const bytes = new TextEncoder().encode("\uFEFFdata: é€\n\n");
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(read(1000, bytes.subarray(0, cut), bytes.subarray(cut)).events).toEqual(["-|-|é€"]);
    }
  });

  it("ends a line that a CR ends as the body's last byte", () => {
    expect(read(1000, "data: x\r\r").events).toEqual(["-|-|x"]);
    expect(read(1000, "data: x\r", "\r").events).toEqual(["-|-|x"]);
    // A CR followed by LF in the next chunk is one line end, not two.
    expect(read(1000, "data: x\r", "\ndata: y\n\n").events).toEqual(["-|-|x\ny"]);
  });

  it("hands on the whole events before one that outgrows the bound, then refuses the chunk", () => {
    expect(read(20, "data: 1\n\ndata: 2\r\r", `data: ${"x".repeat(30)}`)).toEqual({
      events: ["-|-|1", "-|-|2"],
      fed: [true, false],
    });
    expect(read(20, `data: 1\n\ndata: ${"x".repeat(30)}\n\ndata: 3\n\n`)).toEqual({
      events: ["-|-|1"],
      fed: [false],
    });
  });
});

/** A small seeded PRNG, so a failing case can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A random stream: fields, comments, blank lines, retry fields and decoys, with LF, CR or CRLF. */
function randomStream(random: () => number): string {
  const ends = ["\n", "\r", "\r\n"];
  const lines = [
    () => `data: {"id":${Math.floor(random() * 1000)}}`,
    () => `id: ${Math.floor(random() * 1000)}`,
    () => `retry: ${Math.floor(random() * 100000)}`,
    () => `retry:${Math.floor(random() * 100)}`,
    () => "retry: 12x",
    () => `data: retry: ${Math.floor(random() * 10)}`,
    () => ": keep-alive",
    () => "",
    () => `data: ${"x".repeat(Math.floor(random() * 40))}`,
  ];
  let text = "";
  const count = 1 + Math.floor(random() * 30);
  for (let i = 0; i < count; i++) {
    text += lines[Math.floor(random() * lines.length)]!();
    // Mostly LF (the scanners' fast path needs chunks without CR), sometimes CR or CRLF.
    text += random() < 0.8 ? "\n" : ends[Math.floor(random() * ends.length)]!;
  }
  if (random() < 0.5) text += "retry: 4"; // an unfinished line at the end
  return text;
}

/** Cuts `text` at random places (ASCII only: one byte per character). */
function randomChunks(text: string, random: () => number): string[] {
  const chunks: string[] = [];
  let at = 0;
  while (at < text.length) {
    const size = 1 + Math.floor(random() * (random() < 0.5 ? 8 : 200));
    chunks.push(text.slice(at, at + size));
    at += size;
  }
  return chunks;
}

/** The retry fields of complete lines, by the spec: `retry:`, an optional space, ASCII digits only. */
function retryFieldsBySpec(text: string): number[] {
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // the last piece has no line end yet
  return lines.flatMap((line) => {
    const match = /^retry: ?(\d{1,10})$/.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

/**
 * The guard's rule, byte by byte over the whole stream: where the event in progress first counts
 * more than `max` bytes (its finished field lines with their line ends, plus the line in progress),
 * and where the last blank line before that point ended. `undefined`: never.
 */
function overflowBySpec(text: string, max: number): { at: number; boundary: number } | undefined {
  let eventBytes = 0;
  let lineBytes = 0;
  let line: "start" | "comment" | "field" = "start";
  let afterCR = false;
  let boundary = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n" && afterCR) {
      afterCR = false;
      if (line === "start") boundary = i + 1;
      continue;
    }
    if (c === "\n" || c === "\r") {
      afterCR = c === "\r";
      if (line === "start") {
        eventBytes = 0;
        boundary = i + 1;
      } else if (line === "field") {
        eventBytes += lineBytes + 1;
      }
      line = "start";
      lineBytes = 0;
      continue;
    }
    afterCR = false;
    if (line === "start") line = c === ":" ? "comment" : "field";
    lineBytes++;
    if (lineBytes + eventBytes > max) return { at: i, boundary };
  }
  return undefined;
}

describe("the byte scanners on random streams cut at random places", () => {
  it("find the same retry fields and the same oversized event as the spec read over the whole stream", () => {
    const random = prng(19);
    // Bounded: 400 streams, a few cuts each.
    for (let round = 0; round < 400; round++) {
      const text = randomStream(random);
      const max = 20 + Math.floor(random() * 200);
      for (let cut = 0; cut < 3; cut++) {
        const chunks = randomChunks(text, random);
        const context = JSON.stringify({ round, cut, max, chunks });
        expect(scan(...chunks), context).toEqual(retryFieldsBySpec(text));

        const expected = overflowBySpec(text, max);
        const results = guard(max, ...chunks);
        let start = 0;
        for (const [index, chunk] of chunks.entries()) {
          const end = start + chunk.length;
          if (expected !== undefined && expected.at < end) {
            // The chunk where the event outgrows the bound: the whole events of it are kept.
            expect(results[index], context).toBe(Math.max(expected.boundary - start, 0));
            break;
          }
          expect(results[index], context).toBe(-1);
          start = end;
        }
      }
    }
  });
});

describe("stream URLs", () => {
  it("appends the route path to the base path and merges query strings", () => {
    expect(streamUrl(new URL("http://h:9000"), "/v2/events").href).toBe("http://h:9000/v2/events");
    expect(streamUrl(new URL("http://h/api/"), "/v2/events").href).toBe("http://h/api/v2/events");
    expect(streamUrl(new URL("http://h/api"), "events").href).toBe("http://h/api/events");
    expect(streamUrl(new URL("http://h/api?key=1"), "/events?topic=a").href).toBe(
      "http://h/api/events?key=1&topic=a",
    );
  });
});
