import { MIMEType } from "whatwg-mimetype";

/**
 * Every media type weir reads (an AMQP `content-type`, an SSE response's `Content-Type`, the test
 * client's) goes through this one parser: the WHATWG MIME Sniffing "parse a MIME type" algorithm
 * (whatwg-mimetype), the one fetch applies. Types, subtypes and parameter names are
 * case-insensitive (RFC 9110 §8.3.1), so `Application/JSON; Charset=UTF-8` is JSON in UTF-8;
 * malformed parameters are skipped, not thrown.
 */

/** A parsed media type; names lower-cased, the charset as given. */
export interface MediaType {
  /** `type/subtype`, lower-cased: `application/json`. */
  readonly essence: string;
  readonly type: string;
  readonly subtype: string;
  /** The `charset` parameter's value, if any. */
  readonly charset: string | undefined;
}

/**
 * Publishers send the same content type on every message: one remembered answer makes the parse
 * free after the first message of a stream of them.
 */
let lastInput: string | undefined;
let lastParsed: MediaType | undefined;

/** Parses `value`; `undefined` for an absent, empty or unparseable media type. */
export function parseMediaType(value: string | null | undefined): MediaType | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (value === lastInput) return lastParsed;
  const parsed = MIMEType.parse(value);
  const result: MediaType | undefined =
    parsed === null
      ? undefined
      : {
          essence: parsed.essence,
          type: parsed.type,
          subtype: parsed.subtype,
          charset: parsed.parameters.get("charset") ?? undefined,
        };
  lastInput = value;
  lastParsed = result;
  return result;
}

/**
 * JSON media types: `application/json`, `text/json`, and every structured syntax suffix `+json`
 * (RFC 6839: `application/cloudevents+json`, `application/vnd.api+json`, `application/problem+json`).
 * `application/x-ndjson` and the like are not JSON: one document per line does not parse as one.
 */
export function isJsonMediaType(type: MediaType): boolean {
  return type.subtype === "json" || type.subtype.endsWith("+json");
}

/** Whether `value` is the media type `essence` (`"text/event-stream"`), parameters allowed. */
export function hasEssence(value: string | null | undefined, essence: string): boolean {
  return parseMediaType(value)?.essence === essence;
}
