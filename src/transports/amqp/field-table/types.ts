/**
 * amqplib's typed field value: `{ "!": type, value }` sends `value` as that AMQP field type. weir
 * accepts it in headers, and hands received values back in it where JavaScript has no type of its
 * own (`decimal`, and a `timestamp` beyond the range of `Date`).
 */
export interface TypedFieldValue {
  readonly "!": string;
  readonly value: unknown;
}

/** The field-table tag of each type amqplib names (AMQP 0-9-1 as RabbitMQ reads it: errata). */
export const TYPE_TAGS: Readonly<Record<string, string>> = {
  byte: "b",
  int8: "b",
  unsignedbyte: "B",
  uint8: "B",
  short: "s",
  int16: "s",
  unsignedshort: "u",
  uint16: "u",
  int: "I",
  int32: "I",
  unsignedint: "i",
  uint32: "i",
  long: "l",
  int64: "l",
  float: "f",
  double: "d",
  float64: "d",
  timestamp: "T",
  decimal: "D",
};

/** The name weir writes for each tag (amqplib's first name for it). */
export const TAG_TYPES: Readonly<Record<string, string>> = {
  b: "byte",
  B: "unsignedbyte",
  s: "short",
  u: "unsignedshort",
  I: "int",
  i: "unsignedint",
  l: "long",
  f: "float",
  d: "double",
  T: "timestamp",
  D: "decimal",
};

/** Integer types: their inclusive range. */
export const INTEGER_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  b: [-0x80, 0x7f],
  B: [0, 0xff],
  s: [-0x8000, 0x7fff],
  u: [0, 0xffff],
  I: [-0x80000000, 0x7fffffff],
  i: [0, 0xffffffff],
};

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;

/**
 * The largest field table amqplib can encode: it writes message properties into a 64 KiB scratch
 * buffer, and the table's 4-byte length comes first (amqplib lib/defs.js, lib/codec.js).
 */
export const MAX_TABLE_BYTES = 65_536 - 4;

/** Whether `value` is amqplib's typed form: an object with its own `"!"` key. */
export function isTyped(value: object): value is TypedFieldValue {
  return Object.hasOwn(value, "!");
}
