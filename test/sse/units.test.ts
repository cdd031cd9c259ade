import { describe, expect, it } from "vitest";
import { EventSizeGuard, RetryFieldScanner } from "../../src/transports/sse/body-tap.js";
import { streamUrl } from "../../src/transports/sse/route-spec.js";

function scan(...chunks: string[]): number[] {
  const found: number[] = [];
  const scanner = new RetryFieldScanner((ms) => found.push(ms));
  for (const chunk of chunks) scanner.feed(new TextEncoder().encode(chunk));
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

describe("the retry: field scanner", () => {
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
