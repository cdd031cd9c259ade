import { TextDecoder } from "node:util";
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from "node:zlib";
import { InvalidBodyError } from "./errors.js";
import { isJsonMediaType, parseMediaType } from "./media-type.js";

/**
 * The one body decoder: every place that turns a message's bytes into what a handler (or a
 * dead-letter listing, or the test client) sees goes through it. In order:
 *
 * 1. `content-encoding` (a list, applied in order, undone last to first): `gzip` / `x-gzip`,
 *    `deflate` (zlib, or raw deflate as some senders do), `br`; `identity` does nothing. A charset
 *    name there (`utf-8`, as kombu and Celery write) counts as the charset, and `binary` as nothing.
 *    Anything else is refused with its name.
 * 2. The media type (one parser, case-insensitive): JSON is `application/json`, `text/json`,
 *    any `+json` suffix, or no content type at all (what most publishers send). Any other type is
 *    handed over as bytes (a Buffer), decompressed.
 * 3. For JSON, the text: a byte-order mark wins (UTF-8, UTF-16LE, UTF-16BE) and is dropped, as the
 *    WHATWG Encoding Standard decodes; else the `charset` parameter (any label TextDecoder knows),
 *    else UTF-8. An unknown charset is refused with its name.
 * 4. `JSON.parse`.
 *
 * The hot path (no content type or exactly `application/json`, no encoding, valid UTF-8 JSON with
 * no BOM) is what a raw client does: `JSON.parse(content.toString("utf8"))`, nothing else. The rest
 * runs only when that fails or the message says more.
 */

/** Returned by `decodeBody` for a body that cannot be decoded. A symbol: no allocation per message. */
export const UNDECODABLE: unique symbol = Symbol("weir.undecodable");

/**
 * The largest body weir decompresses (bytes), RabbitMQ's own largest message (`max_message_size`,
 * 128 MiB): a small compressed body must not expand into gigabytes of memory (a zip bomb).
 */
export const MAX_DECODED_BYTES = 128 * 1024 * 1024;

/** What `decodeBodyResult` returns. */
export type DecodedBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: InvalidBodyError };

/**
 * The body a handler receives: parsed JSON for JSON (or untyped) bodies, the (decompressed) bytes
 * for any other media type, or `UNDECODABLE`; `decodeBodyResult` then says why.
 */
export function decodeBody(
  content: Buffer,
  contentType: string | undefined,
  contentEncoding: string | undefined,
): unknown {
  if (
    (contentType === undefined || contentType === "" || contentType === "application/json") &&
    (contentEncoding === undefined || contentEncoding === "")
  ) {
    try {
      return JSON.parse(content.toString("utf8"));
    } catch {
      // A byte-order mark, or not JSON at all: the full decoder tells which.
    }
  }
  const result = decodeBodyResult(content, contentType, contentEncoding);
  return result.ok ? result.value : UNDECODABLE;
}

/** The full decoder, with the reason when the body cannot be decoded. Never throws. */
export function decodeBodyResult(
  content: Buffer,
  contentType: string | undefined,
  contentEncoding: string | undefined,
): DecodedBody {
  try {
    return { ok: true, value: decode(content, contentType, contentEncoding) };
  } catch (error) {
    if (error instanceof InvalidBodyError) return { ok: false, error };
    return {
      ok: false,
      error: new InvalidBodyError(
        "WEIR_ERR_INVALID_JSON",
        `the body could not be decoded: ${String(error)}`,
        {
          cause: error,
        },
      ),
    };
  }
}

/**
 * The text of a body, as steps 1 and 3 above make it: content-encoding undone, then a BOM, the
 * `charset` or UTF-8. For a transport that parses JSON itself (HTTP, with fastify's hardened
 * parser). Throws an `InvalidBodyError`.
 */
export function bodyText(
  content: Buffer,
  contentType: string | undefined,
  contentEncoding: string | undefined,
  maxBytes: number = MAX_DECODED_BYTES,
): string {
  const { bytes, charset } = undoEncodings(
    content,
    contentEncoding,
    maxBytes === MAX_DECODED_BYTES ? LIMIT : { maxOutputLength: maxBytes },
  );
  return toText(bytes, parseMediaType(contentType)?.charset ?? charset);
}

function decode(
  content: Buffer,
  contentType: string | undefined,
  contentEncoding: string | undefined,
): unknown {
  const { bytes, charset: encodingCharset } = undoEncodings(content, contentEncoding, LIMIT);
  const type = parseMediaType(contentType);
  // A content type that is given but unparseable is not JSON: hand the bytes over, as for any type.
  const json = type === undefined ? contentType === undefined || contentType === "" : isJsonMediaType(type);
  if (!json) return bytes;
  const text = toText(bytes, type?.charset ?? encodingCharset);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidBodyError(
      "WEIR_ERR_INVALID_JSON",
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

/** The bytes with every content-encoding undone, and a charset the header named instead. */
function undoEncodings(
  content: Buffer,
  header: string | undefined,
  limit: Limit,
): { bytes: Buffer; charset: string | undefined } {
  if (header === undefined || header === "") return { bytes: content, charset: undefined };
  const codings = header
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  let bytes = content;
  let charset: string | undefined;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    if (coding === "gzip" || coding === "x-gzip")
      bytes = inflate(coding, limit, () => gunzipSync(bytes, limit));
    else if (coding === "deflate") bytes = inflate(coding, limit, () => inflateDeflate(bytes, limit));
    else if (coding === "br") bytes = inflate(coding, limit, () => brotliDecompressSync(bytes, limit));
    else if (coding === "binary") continue;
    else if (codings.length === 1 && decoderFor(coding) !== undefined) charset = coding;
    else {
      throw new InvalidBodyError(
        "WEIR_ERR_BODY_ENCODING",
        `unknown content-encoding "${coding}" (weir decodes gzip, deflate and br)`,
      );
    }
  }
  return { bytes, charset };
}

interface Limit {
  readonly maxOutputLength: number;
}

const LIMIT: Limit = { maxOutputLength: MAX_DECODED_BYTES };

/** HTTP's `deflate` is zlib-wrapped, but senders often mean raw deflate: both are accepted. */
function inflateDeflate(bytes: Buffer, limit: Limit): Buffer {
  try {
    return inflateSync(bytes, limit);
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw error;
    return inflateRawSync(bytes, limit);
  }
}

function inflate(coding: string, limit: Limit, run: () => Buffer): Buffer {
  try {
    return run();
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new InvalidBodyError(
        "WEIR_ERR_BODY_TOO_LARGE",
        `the ${coding} body decompresses to more than ${limit.maxOutputLength} bytes`,
        { cause: error },
      );
    }
    throw new InvalidBodyError(
      "WEIR_ERR_BODY_ENCODING",
      `the body is not valid ${coding} data: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

const decoders = new Map<string, TextDecoder | undefined>();

/** A TextDecoder for `label`, or undefined when Node does not know that encoding. Cached. */
function decoderFor(label: string): TextDecoder | undefined {
  const key = label.trim().toLowerCase();
  if (decoders.has(key)) return decoders.get(key);
  let decoder: TextDecoder | undefined;
  try {
    // Not fatal: a stray invalid byte becomes U+FFFD, as Buffer#toString does on the hot path.
    decoder = new TextDecoder(key);
  } catch {
    decoder = undefined;
  }
  // Bounded: labels come from messages, and a stream of invented ones must not grow this forever.
  if (decoders.size < 64) decoders.set(key, decoder);
  return decoder;
}

const UTF8_LABEL = /^\s*utf-?8\s*$/i;
const UTF8 = new TextDecoder("utf-8");
const UTF16LE = new TextDecoder("utf-16le");
const UTF16BE = new TextDecoder("utf-16be");

/** The body's text: a BOM decides the encoding, else the charset, else UTF-8 (BOMs dropped). */
function toText(bytes: Buffer, charset: string | undefined): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return UTF8.decode(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return UTF16LE.decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return UTF16BE.decode(bytes);
  if (charset === undefined || UTF8_LABEL.test(charset)) return bytes.toString("utf8");
  const decoder = decoderFor(charset);
  if (decoder === undefined) {
    throw new InvalidBodyError(
      "WEIR_ERR_BODY_CHARSET",
      `unsupported charset "${charset}" (weir decodes what Node's TextDecoder supports)`,
    );
  }
  return decoder.decode(bytes);
}
