import { isTyped, TYPE_TAGS } from "./types.js";

/**
 * Writes a field table's content as amqplib 2.x does (lib/codec.js `encodeTable`, without the
 * 4-byte length): what `encodeHeaders` returns, which amqplib encodes without a guess that loses
 * anything. weir/testing's in-memory broker writes headers with it and reads them back with
 * `decodeHeaders`, so a handler under test sees what it would see from RabbitMQ; a test compares
 * its bytes with amqplib's.
 */
export function writeTable(table: Record<string, unknown>): Buffer {
  return Buffer.concat(fields(table));
}

function fields(table: Record<string, unknown>): Buffer[] {
  const parts: Buffer[] = [];
  for (const key of Object.keys(table)) {
    const value = table[key];
    if (value === undefined) continue;
    const name = Buffer.from(key, "utf8");
    parts.push(Buffer.of(name.length), name, field(value));
  }
  return parts;
}

/** A tag, then a 4-byte length, then `body`: strings, byte arrays, arrays, tables. */
function sized(tag: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(tag, 0, "latin1");
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** A tag, then `size` bytes that `write` fills at offset 1. */
function fixed(tag: string, size: number, write: (buffer: Buffer) => unknown): Buffer {
  const buffer = Buffer.alloc(1 + size);
  buffer.write(tag, 0, "latin1");
  write(buffer);
  return buffer;
}

/** amqplib's guess for a plain number: a double when it has a fraction, else the smallest integer. */
function numberTag(value: number): string {
  if (value >= 2 ** 63 || (Math.abs(value) < 2 ** 50 && Math.floor(value) !== value)) return "d";
  if (value >= -0x80 && value < 0x80) return "b";
  if (value >= -0x8000 && value < 0x8000) return "s";
  if (value >= -0x80000000 && value < 0x80000000) return "I";
  return "l";
}

function field(value: unknown): Buffer {
  if (typeof value === "number") return typed(numberTag(value), value);
  if (typeof value === "string") return sized("S", Buffer.from(value, "utf8"));
  if (typeof value === "boolean") return fixed("t", 1, (b) => b.writeUInt8(value ? 1 : 0, 1));
  if (value === null) return fixed("V", 0, () => 0);
  if (Buffer.isBuffer(value)) return sized("x", value);
  if (Array.isArray(value)) return sized("A", Buffer.concat(value.map(field)));
  if (typeof value === "object" && isTyped(value)) {
    const tag = typeof value["!"] === "string" ? TYPE_TAGS[value["!"]] : undefined;
    if (tag === undefined) throw new TypeError(`unknown AMQP field type ${String(value["!"])}`);
    return typed(tag, value.value);
  }
  if (typeof value === "object") return sized("F", Buffer.concat(fields(value as Record<string, unknown>)));
  throw new TypeError(`no AMQP field type for ${typeof value}`);
}

function typed(tag: string, value: unknown): Buffer {
  const n = value as number;
  switch (tag) {
    case "b":
      return fixed(tag, 1, (b) => b.writeInt8(n, 1));
    case "B":
      return fixed(tag, 1, (b) => b.writeUInt8(n, 1));
    case "s":
      return fixed(tag, 2, (b) => b.writeInt16BE(n, 1));
    case "u":
      return fixed(tag, 2, (b) => b.writeUInt16BE(n, 1));
    case "I":
      return fixed(tag, 4, (b) => b.writeInt32BE(n, 1));
    case "i":
      return fixed(tag, 4, (b) => b.writeUInt32BE(n, 1));
    case "l":
      return fixed(tag, 8, (b) => b.writeBigInt64BE(BigInt(value as number | bigint), 1));
    case "T":
      return fixed(tag, 8, (b) => b.writeBigUInt64BE(BigInt(value as number | bigint), 1));
    case "f":
      return fixed(tag, 4, (b) => b.writeFloatBE(n, 1));
    case "d":
      return fixed(tag, 8, (b) => b.writeDoubleBE(n, 1));
    default: {
      const { places, digits } = value as { places: number; digits: number };
      return fixed("D", 5, (b) => {
        b.writeUInt8(places, 1);
        b.writeUInt32BE(digits, 2);
      });
    }
  }
}
