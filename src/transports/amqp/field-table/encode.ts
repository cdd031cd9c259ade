import { HeaderValueError } from "./errors.js";
import {
  INT64_MAX,
  INT64_MIN,
  INTEGER_RANGES,
  isTyped,
  MAX_TABLE_BYTES,
  TAG_TYPES,
  TYPE_TAGS,
  type TypedFieldValue,
  UINT64_MAX,
} from "./types.js";

/**
 * Turns message headers into what amqplib encodes without loss, or refuses them with a
 * `HeaderValueError` (`WEIR_ERR_PUBLISH_HEADER`) naming the value's path, before anything is sent.
 * amqplib alone turns a `Date` into an empty table (its fields are not enumerable), throws a bare
 * `TypeError` on a `BigInt`, `undefined` in an array, a symbol or a function, sends any other object
 * as a table of its enumerable fields, and rounds a number it guesses is a 64-bit integer.
 *
 * The mapping (docs/amqp.md#headers):
 * - string → long string `S`; it must be well-formed UTF-16 (a lone surrogate would arrive as U+FFFD)
 * - number: a safe integer → the smallest signed integer (`b`, `s`, `I`, `l`, amqplib's choice); any
 *   other finite number → double `d` (so 2^60 comes back as the same number, not a BigInt);
 *   `NaN` and ±`Infinity` are refused: RabbitMQ closes the whole connection (541) on such a double
 * - bigint → signed 64-bit `l`; outside [-2^63, 2^63 - 1] refused
 * - boolean → `t`; null → void `V`; undefined → left out of a table, refused in an array
 * - Date → timestamp `T`, in whole seconds (milliseconds dropped); before 1970 or invalid refused
 * - Buffer (or any Uint8Array) → byte array `x`
 * - array → field array `A`; plain object → nested table `F`, both recursively
 * - `{ "!": type, value }` → that AMQP type (amqplib's typed form), checked against its range
 * - anything else (functions, symbols, class instances such as Map or Error, cycles) is refused
 *
 * Idempotent: encoding what it returned gives the same thing, so every publish path may run it.
 */
export function encodeHeaders(headers: unknown): Record<string, unknown> | undefined {
  if (headers === undefined) return undefined;
  if (!isPlainObject(headers)) {
    throw new HeaderValueError("headers", `must be a plain object, got ${describe(headers)}`);
  }
  const encoder = new Encoder();
  const table = encoder.table(headers);
  if (encoder.bytes > MAX_TABLE_BYTES) {
    throw new HeaderValueError(
      "headers",
      `they take ${encoder.bytes} bytes encoded, more than the ${MAX_TABLE_BYTES} amqplib can send`,
    );
  }
  return table;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value !== "object") return `a ${typeof value}`;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? `an instance of ${name}` : "an object with a prototype";
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** A surrogate that is not part of a pair (with the `u` flag, pairs match as one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

/** `headers.a["x-b"][0]`: the path of a value, built only for an error message. */
function formatPath(segments: readonly (string | number)[]): string {
  let path = "headers";
  for (const segment of segments) {
    if (typeof segment === "number") path += `[${segment}]`;
    else path += IDENTIFIER.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/** One walk over the headers: the value amqplib is given, and its encoded size. */
class Encoder {
  /** Bytes of the top-level table's content, as amqplib will write it. */
  bytes = 0;
  /** Objects and arrays on the current path: a cycle would recurse forever. */
  private readonly ancestors = new Set<object>();
  /** Keys and indexes down to the value being encoded (the error's path). */
  private readonly segments: (string | number)[] = [];

  private fail(reason: string): never {
    throw new HeaderValueError(formatPath(this.segments), reason);
  }

  table(value: Record<string, unknown>): Record<string, unknown> {
    this.enter(value);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const field = value[key];
      if (field === undefined) continue;
      this.segments.push(key);
      const length = Buffer.byteLength(key);
      if (length > 255) this.fail(`a field name is at most 255 bytes (AMQP short string), got ${length}`);
      this.bytes += 1 + length;
      const encoded = this.value(field);
      // A field named "__proto__" is a field like any other, not the object's prototype.
      if (key === "__proto__") {
        Object.defineProperty(out, key, {
          value: encoded,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[key] = encoded;
      }
      this.segments.pop();
    }
    this.ancestors.delete(value);
    return out;
  }

  private enter(value: object): void {
    if (this.ancestors.has(value)) this.fail("it contains itself (a cycle)");
    this.ancestors.add(value);
  }

  private value(value: unknown): unknown {
    // One byte for the type tag, then the value.
    this.bytes += 1;
    switch (typeof value) {
      case "string":
        if (LONE_SURROGATE.test(value))
          this.fail("the string has a lone surrogate, which UTF-8 cannot carry");
        this.bytes += 4 + Buffer.byteLength(value);
        return value;
      case "boolean":
        this.bytes += 1;
        return value;
      case "number":
        return this.number(value);
      case "bigint":
        if (value < INT64_MIN || value > INT64_MAX) {
          this.fail(`${value} does not fit a signed 64-bit integer (AMQP long)`);
        }
        this.bytes += 8;
        return { "!": "long", value };
      case "object":
        return value === null ? null : this.object(value);
      default:
        return this.fail(`${describe(value)} has no AMQP field type`);
    }
  }

  private number(value: number): unknown {
    if (!Number.isFinite(value)) {
      this.fail(`${value} cannot be sent: RabbitMQ closes the connection on a non-finite double`);
    }
    if (Number.isSafeInteger(value)) {
      this.bytes +=
        value >= -0x80 && value < 0x80
          ? 1
          : value >= -0x8000 && value < 0x8000
            ? 2
            : value >= -0x80000000 && value < 0x80000000
              ? 4
              : 8;
      return value;
    }
    // amqplib would guess a 64-bit integer for these and read it back as a (rounded) number or a
    // BigInt: as a double, the same number comes back.
    this.bytes += 8;
    return { "!": "double", value };
  }

  private object(value: object): unknown {
    if (value instanceof Date) {
      const ms = value.getTime();
      if (Number.isNaN(ms)) this.fail("an invalid Date has no timestamp");
      if (ms < 0) this.fail(`${value.toISOString()} is before 1970: AMQP timestamps are unsigned`);
      this.bytes += 8;
      return { "!": "timestamp", value: BigInt(Math.floor(ms / 1000)) };
    }
    if (value instanceof Uint8Array) {
      this.bytes += 4 + value.byteLength;
      return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
    if (Array.isArray(value)) {
      this.enter(value);
      this.bytes += 4;
      const out = new Array<unknown>(value.length);
      for (let index = 0; index < value.length; index++) {
        this.segments.push(index);
        const item: unknown = value[index];
        if (item === undefined) this.fail("undefined has no AMQP field type (use null)");
        out[index] = this.value(item);
        this.segments.pop();
      }
      this.ancestors.delete(value);
      return out;
    }
    if (!isPlainObject(value)) return this.fail(`${describe(value)} has no AMQP field type`);
    if (isTyped(value)) return this.typed(value);
    this.bytes += 4;
    return this.table(value);
  }

  /** amqplib's `{ "!": type, value }`, checked so that amqplib cannot throw or change it. */
  private typed(typed: TypedFieldValue): TypedFieldValue {
    const tag = typeof typed["!"] === "string" ? TYPE_TAGS[typed["!"]] : undefined;
    if (tag === undefined) {
      this.fail(
        `unknown AMQP field type ${JSON.stringify(typed["!"])} in { "!": type, value } (known: ${Object.keys(TYPE_TAGS).join(", ")})`,
      );
    }
    const type = TAG_TYPES[tag] as string;
    const value = typed.value;
    const refuse = (why: string): never => this.fail(`${String(value)} is not a valid ${type}: ${why}`);
    const range = INTEGER_RANGES[tag];
    if (range !== undefined) {
      if (typeof value !== "number" || !Number.isInteger(value) || value < range[0] || value > range[1]) {
        refuse(`an integer from ${range[0]} to ${range[1]}`);
      }
      this.bytes += tag === "b" || tag === "B" ? 1 : tag === "s" || tag === "u" ? 2 : 4;
      return { "!": type, value };
    }
    switch (tag) {
      case "l":
      case "T": {
        const [min, max] = tag === "l" ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
        let big: bigint | undefined;
        if (typeof value === "bigint") big = value;
        else if (typeof value === "number" && Number.isSafeInteger(value)) big = BigInt(value);
        if (big === undefined || big < min || big > max)
          return refuse(`an integer (or BigInt) from ${min} to ${max}`);
        this.bytes += 8;
        return { "!": type, value: big };
      }
      case "f":
        if (typeof value !== "number" || !Number.isFinite(Math.fround(value)))
          refuse("a finite 32-bit float");
        this.bytes += 4;
        return { "!": type, value };
      case "d":
        if (typeof value !== "number" || !Number.isFinite(value)) refuse("a finite number");
        this.bytes += 8;
        return { "!": type, value };
      default: {
        // decimal: amqplib writes { places: octet, digits: 32-bit unsigned }.
        const { places, digits } = (value ?? {}) as { places?: unknown; digits?: unknown };
        if (
          typeof places !== "number" ||
          !Number.isInteger(places) ||
          places < 0 ||
          places > 255 ||
          typeof digits !== "number" ||
          !Number.isInteger(digits) ||
          digits < 0 ||
          digits > 0xffffffff
        ) {
          this.fail("a decimal is { places: 0..255, digits: 0..4294967295 }");
        }
        this.bytes += 5;
        return { "!": type, value: { places, digits } };
      }
    }
  }
}
