import { TAG_TYPES } from "./types.js";

/**
 * Reads AMQP field tables (message headers) from their bytes, without amqplib's losses: amqplib
 * reads a signed 64-bit integer as a `Number` (9223372036854775807 arrives as 9223372036854776000)
 * and a timestamp as `{ "!": "timestamp", value }`.
 *
 * What a handler sees (docs/amqp.md#headers): integers of every width as numbers, a 64-bit one
 * outside ±(2^53 - 1) as a BigInt; floats and doubles as numbers; a timestamp as a `Date` (a
 * `{ "!": "timestamp", value: bigint }` beyond the range of `Date`); a decimal as
 * `{ "!": "decimal", value: { places, digits } }`; long strings as strings; byte arrays as Buffers;
 * booleans, null, arrays and nested tables as themselves.
 *
 * The bytes of each decoded table are kept (weakly, with the object), so that a retry, a dead
 * letter or a replay can send every value again with the AMQP type it came with
 * ({@link headersToRepublish}): a header another client sent as a 32-bit `int` goes back as one,
 * not as the byte amqplib would pick for a small number (a Java consumer casting it to Integer
 * would otherwise fail: amqplib #358).
 */

const received = new WeakMap<object, Buffer>();

/** Decodes a field table's content (the bytes after its 4-byte length), remembering them. */
export function decodeHeaders(table: Buffer): Record<string, unknown> {
  const headers = new Reader(table, false).table(table.length);
  received.set(headers, table);
  return headers;
}

/**
 * Keeps `table`, the bytes `headers` were decoded from by amqplib, with them: for headers amqplib
 * read exactly as weir would (no 64-bit integer beyond 2^53, no timestamp), decoding them again
 * would cost a second pass on every delivery for nothing.
 */
export function adoptHeaders(headers: Record<string, unknown>, table: Buffer): Record<string, unknown> {
  received.set(headers, table);
  return headers;
}

/** Whether weir decoded `headers` from bytes (its interceptor, or the in-memory broker). */
export function wasDecoded(headers: object): boolean {
  return received.has(headers);
}

/** A shallow copy of decoded headers that republishes as the original would. */
export function cloneHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...headers };
  const table = received.get(headers);
  if (table !== undefined) received.set(copy, table);
  return copy;
}

/**
 * The headers to send again for a message weir received: each value that the handler left as it
 * came is given in amqplib's typed form with its original AMQP type (`{ "!": "int", value: 5 }`,
 * `{ "!": "long", value: 9223372036854775807n }`, `{ "!": "timestamp", value: 1700000000n }`),
 * so that amqplib writes the same bytes; a value the handler changed or added is sent as it is now
 * (and encoded like any publish). Headers weir did not decode are returned as they are.
 */
export function headersToRepublish(
  headers: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (headers === undefined) return undefined;
  const table = received.get(headers);
  if (table === undefined) return headers;
  const wire = new Reader(table, true).table(table.length);
  const original = new Reader(table, false).table(table.length);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(headers)) {
    const value =
      Object.hasOwn(original, key) && sameValue(headers[key], original[key]) ? wire[key] : headers[key];
    define(out, key, value);
  }
  return out;
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  // A field named "__proto__" is a field like any other, not the object's prototype.
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Deep equality over the values a decoded table holds. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (Array.isArray(b) || b instanceof Date || Buffer.isBuffer(b)) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  return (
    keys.length === Object.keys(right).length &&
    keys.every((key) => Object.hasOwn(right, key) && sameValue(left[key], right[key]))
  );
}

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
/** The latest instant a `Date` holds, in seconds (ECMA-262: ±8.64e15 ms). */
const DATE_MAX_SECONDS = 8_640_000_000_000n;

/**
 * A cursor over a table's bytes. `wire`: numbers and timestamps in amqplib's typed form with their
 * original type, for sending them again; else the values a handler sees.
 */
class Reader {
  private at = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly wire: boolean,
  ) {}

  table(end: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const bytes = this.bytes;
    while (this.at < end) {
      const length = bytes.readUInt8(this.at);
      const key = bytes.toString("utf8", this.at + 1, this.at + 1 + length);
      this.at += 1 + length;
      define(out, key, this.value());
    }
    return out;
  }

  private value(): unknown {
    const bytes = this.bytes;
    const tag = String.fromCharCode(bytes.readUInt8(this.at));
    const at = this.at + 1;
    switch (tag) {
      case "S": {
        const length = bytes.readUInt32BE(at);
        this.at = at + 4 + length;
        return bytes.toString("utf8", at + 4, at + 4 + length);
      }
      case "t":
        this.at = at + 1;
        return bytes.readUInt8(at) !== 0;
      case "V":
        this.at = at;
        return null;
      case "x": {
        const length = bytes.readUInt32BE(at);
        this.at = at + 4 + length;
        return Buffer.from(bytes.subarray(at + 4, at + 4 + length));
      }
      case "F": {
        const end = at + 4 + bytes.readUInt32BE(at);
        this.at = at + 4;
        const table = this.table(end);
        this.at = end;
        return table;
      }
      case "A": {
        const end = at + 4 + bytes.readUInt32BE(at);
        this.at = at + 4;
        const items: unknown[] = [];
        while (this.at < end) items.push(this.value());
        this.at = end;
        return items;
      }
      case "D": {
        this.at = at + 5;
        return { "!": "decimal", value: { places: bytes.readUInt8(at), digits: bytes.readUInt32BE(at + 1) } };
      }
      case "l": {
        this.at = at + 8;
        const value = bytes.readBigInt64BE(at);
        if (this.wire) return { "!": "long", value };
        return value >= SAFE_MIN && value <= SAFE_MAX ? Number(value) : value;
      }
      case "T": {
        this.at = at + 8;
        const seconds = bytes.readBigUInt64BE(at);
        if (this.wire || seconds > DATE_MAX_SECONDS) return { "!": "timestamp", value: seconds };
        return new Date(Number(seconds) * 1000);
      }
      default:
        return this.number(tag, at);
    }
  }

  private number(tag: string, at: number): unknown {
    const bytes = this.bytes;
    let value: number;
    switch (tag) {
      case "b":
        value = bytes.readInt8(at);
        this.at = at + 1;
        break;
      case "B":
        value = bytes.readUInt8(at);
        this.at = at + 1;
        break;
      case "s":
        value = bytes.readInt16BE(at);
        this.at = at + 2;
        break;
      case "u":
        value = bytes.readUInt16BE(at);
        this.at = at + 2;
        break;
      case "I":
        value = bytes.readInt32BE(at);
        this.at = at + 4;
        break;
      case "i":
        value = bytes.readUInt32BE(at);
        this.at = at + 4;
        break;
      case "f":
        value = bytes.readFloatBE(at);
        this.at = at + 4;
        break;
      case "d":
        value = bytes.readDoubleBE(at);
        this.at = at + 8;
        break;
      default:
        throw new TypeError(`unknown AMQP field type tag ${JSON.stringify(tag)}`);
    }
    return this.wire ? { "!": TAG_TYPES[tag], value } : value;
  }
}
