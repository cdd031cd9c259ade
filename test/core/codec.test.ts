import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeBody, decodeBodyResult, UNDECODABLE } from "../../src/core/codec/body.js";
import { hasEssence, isJsonMediaType, parseMediaType } from "../../src/core/codec/media-type.js";

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function errorOf(content: Buffer, type?: string, encoding?: string): { code: string; message: string } {
  const result = decodeBodyResult(content, type, encoding);
  if (result.ok) throw new Error(`decoded: ${JSON.stringify(result.value)}`);
  return { code: result.error.code, message: result.error.message };
}

describe("media types (issue #14: compared case-sensitively)", () => {
  it.each([
    ["application/json", "application/json"],
    ["Application/JSON", "application/json"],
    ["APPLICATION/JSON; charset=UTF-8", "application/json"],
    ["application/json;", "application/json"],
    ["application/json; charset=utf-8; junk", "application/json"],
    ["Text/Event-Stream", "text/event-stream"],
    ["TEXT/EVENT-STREAM;charset=UTF-8", "text/event-stream"],
  ])("%s has the essence %s", (value, essence) => {
    expect(parseMediaType(value)?.essence).toBe(essence);
  });

  it("reads the charset whatever the case of its name, quotes removed", () => {
    expect(parseMediaType('application/json; CHARSET="utf-16le"')?.charset).toBe("utf-16le");
  });

  it("counts structured +json types as JSON, and not NDJSON or plain text", () => {
    const jsonLike = [
      "application/cloudevents+json",
      "application/vnd.x+json",
      "text/json",
      "Application/Problem+JSON",
    ];
    for (const type of jsonLike) expect(isJsonMediaType(parseMediaType(type)!), type).toBe(true);
    for (const type of [
      "application/x-ndjson",
      "text/plain",
      "application/jsonl",
      "application/octet-stream",
    ]) {
      expect(isJsonMediaType(parseMediaType(type)!), type).toBe(false);
    }
  });

  it("answers undefined for an absent or unparseable type, and hasEssence false", () => {
    expect(parseMediaType(undefined)).toBeUndefined();
    expect(parseMediaType("")).toBeUndefined();
    expect(parseMediaType("garbage")).toBeUndefined();
    expect(hasEssence("text/html", "text/event-stream")).toBe(false);
    expect(hasEssence(null, "text/event-stream")).toBe(false);
  });
});

describe("body decoding (issue #14: bodies with a BOM, a charset or an encoding)", () => {
  it("decodes JSON with no content type or with any case of a JSON type", () => {
    for (const type of [
      undefined,
      "",
      "application/json",
      "Application/JSON",
      "APPLICATION/JSON; charset=UTF-8",
    ]) {
      expect(decodeBody(json({ a: 1 }), type, undefined), String(type)).toEqual({ a: 1 });
    }
    expect(decodeBody(json({ specversion: "1.0" }), "application/cloudevents+json", undefined)).toEqual({
      specversion: "1.0",
    });
  });

  it("ignores a leading UTF-8 byte-order mark", () => {
    expect(decodeBody(Buffer.concat([BOM, Buffer.from("{}")]), undefined, undefined)).toEqual({});
    expect(decodeBody(Buffer.concat([BOM, json({ x: "é" })]), "application/json", undefined)).toEqual({
      x: "é",
    });
  });

  it("honours the charset, and a UTF-16 byte-order mark over it", () => {
    const latin1 = Buffer.from('{"name":"Zoë"}', "latin1");
    expect(decodeBody(latin1, "application/json; charset=ISO-8859-1", undefined)).toEqual({ name: "Zoë" });
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"n":"日本"}', "utf16le")]);
    expect(decodeBody(utf16, "application/json", undefined)).toEqual({ n: "日本" });
    expect(decodeBody(utf16, "application/json; charset=utf-8", undefined)).toEqual({ n: "日本" });
    const utf16le = Buffer.from('{"n":1}', "utf16le");
    expect(decodeBody(utf16le, "application/json; charset=UTF-16LE", undefined)).toEqual({ n: 1 });
  });

  it("refuses an unknown charset, naming it", () => {
    expect(errorOf(json({}), "application/json; charset=klingon")).toEqual({
      code: "WEIR_ERR_BODY_CHARSET",
      message: expect.stringContaining('"klingon"'),
    });
  });

  it("decodes gzip, x-gzip, deflate (zlib and raw), br and a list of codings", () => {
    const body = json({ big: "x".repeat(1000) });
    expect(decodeBody(gzipSync(body), "application/json", "gzip")).toEqual({ big: "x".repeat(1000) });
    expect(decodeBody(gzipSync(body), undefined, "X-GZIP")).toEqual({ big: "x".repeat(1000) });
    expect(decodeBody(deflateSync(body), undefined, "deflate")).toEqual({ big: "x".repeat(1000) });
    expect(decodeBody(deflateRawSync(body), undefined, "deflate")).toEqual({ big: "x".repeat(1000) });
    expect(decodeBody(brotliCompressSync(body), undefined, "br")).toEqual({ big: "x".repeat(1000) });
    expect(decodeBody(gzipSync(brotliCompressSync(body)), undefined, "br, gzip")).toEqual({
      big: "x".repeat(1000),
    });
    expect(decodeBody(body, undefined, "identity")).toEqual({ big: "x".repeat(1000) });
  });

  it("hands a non-JSON type over as bytes, decompressed", () => {
    const decoded = decodeBody(gzipSync(Buffer.from("plain text")), "text/plain", "gzip");
    expect(Buffer.isBuffer(decoded)).toBe(true);
    expect((decoded as Buffer).toString()).toBe("plain text");
    expect(Buffer.isBuffer(decodeBody(Buffer.from("{}"), "garbage", undefined))).toBe(true);
  });

  it("treats a charset in content-encoding as the charset (kombu, Celery) and binary as nothing", () => {
    expect(decodeBody(json({ a: 1 }), "application/json", "utf-8")).toEqual({ a: 1 });
    expect(decodeBody(Buffer.from('{"a":"é"}', "latin1"), "application/json", "latin1")).toEqual({ a: "é" });
    expect(Buffer.isBuffer(decodeBody(Buffer.from([1, 2]), "application/octet-stream", "binary"))).toBe(true);
  });

  it("refuses an unknown content-encoding and corrupt compressed data, naming the coding", () => {
    expect(errorOf(json({}), "application/json", "compress")).toEqual({
      code: "WEIR_ERR_BODY_ENCODING",
      message: expect.stringContaining('"compress"'),
    });
    expect(errorOf(Buffer.from("not gzip"), undefined, "gzip")).toEqual({
      code: "WEIR_ERR_BODY_ENCODING",
      message: expect.stringContaining("gzip"),
    });
  });

  it("refuses a body that would decompress beyond the limit (a zip bomb)", () => {
    const bomb = gzipSync(Buffer.alloc(129 * 1024 * 1024), { level: 1 });
    expect(errorOf(bomb, undefined, "gzip").code).toBe("WEIR_ERR_BODY_TOO_LARGE");
  });

  it("refuses invalid JSON with the parser's reason, and says UNDECODABLE on the fast path", () => {
    expect(decodeBody(Buffer.from("{not json"), undefined, undefined)).toBe(UNDECODABLE);
    expect(decodeBody(Buffer.from(""), "application/json", undefined)).toBe(UNDECODABLE);
    expect(errorOf(Buffer.from("{not json"), undefined).code).toBe("WEIR_ERR_INVALID_JSON");
  });
});
