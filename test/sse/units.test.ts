import { describe, expect, it } from "vitest";
import { RetryFieldScanner } from "../../src/transports/sse/body-tap.js";
import { streamUrl } from "../../src/transports/sse/route-spec.js";

function scan(...chunks: string[]): number[] {
  const found: number[] = [];
  const scanner = new RetryFieldScanner((ms) => found.push(ms));
  for (const chunk of chunks) scanner.feed(new TextEncoder().encode(chunk));
  return found;
}

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
