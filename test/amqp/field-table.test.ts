import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ChannelModel } from "amqplib";
import { describe, expect, it } from "vitest";
import { App, HeaderValueError, RouteTypes } from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import {
  cloneHeaders,
  decodeHeaders,
  headersToRepublish,
  wasDecoded,
} from "../../src/transports/amqp/field-table/decode.js";
import { encodeHeaders } from "../../src/transports/amqp/field-table/encode.js";
import { headerTableAt, installHeaderDecoder } from "../../src/transports/amqp/field-table/frames.js";
import { writeTable } from "../../src/transports/amqp/field-table/write.js";
import { silentLogger } from "../helpers/amqp.js";
import { captureLogs } from "../helpers/logs.js";

/**
 * Issue #14, kind 3 (header values that do not survive the trip), below the broker: the encoder,
 * the decoder, the writer of weir/testing's broker against amqplib's own encoder, and the frame
 * interception. test/amqp/headers.test.ts runs the same kinds through RabbitMQ.
 */

const require = createRequire(import.meta.url);
/** amqplib's field-table codec (not exported: loaded by path, for comparison only). */
const codec = require(join(dirname(require.resolve("amqplib")), "lib/codec.js")) as {
  encodeTable(buffer: Buffer, value: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
};

function amqplibBytes(table: Record<string, unknown>): Buffer {
  const buffer = Buffer.alloc(70_000);
  const size = codec.encodeTable(buffer, table, 0);
  return Buffer.from(buffer.subarray(4, size));
}

const SAMPLES: Record<string, unknown> = {
  text: "héllo 🌍",
  empty: "",
  zero: 0,
  byte: -128,
  short: 300,
  int: -70_000,
  long: 2 ** 40,
  safeMax: Number.MAX_SAFE_INTEGER,
  fraction: 0.1,
  unsafe: 2 ** 60,
  negativeUnsafe: -(2 ** 60) - 2048,
  big: 9223372036854775807n,
  negativeBig: -9223372036854775808n,
  one: 1n,
  at: new Date(1_700_000_000_999),
  epoch: new Date(0),
  yes: true,
  no: false,
  nothing: null,
  skipped: undefined,
  bytes: Buffer.from([1, 2, 3]),
  view: new Uint8Array([0, 9, 8]).subarray(1),
  list: [1, "two", [3n, new Date(1000)], { four: 4 }],
  table: { nested: { deeper: { id: 1234567890123456789n } } },
  typed: {
    b: { "!": "byte", value: 1 },
    B: { "!": "uint8", value: 255 },
    s: { "!": "int16", value: -2 },
    u: { "!": "unsignedshort", value: 65535 },
    I: { "!": "int32", value: 3 },
    i: { "!": "uint32", value: 4_294_967_295 },
    l: { "!": "int64", value: 5 },
    f: { "!": "float", value: 0.5 },
    d: { "!": "float64", value: 0.25 },
    T: { "!": "timestamp", value: 18_446_744_073_709_551_615n },
    D: { "!": "decimal", value: { places: 3, digits: 4_294_967_295 } },
  },
  __proto__field: "plain",
};

describe("the header codec (issue #14.3)", () => {
  it("writes field tables byte for byte as amqplib does (weir/testing's broker)", () => {
    const encoded = encodeHeaders(SAMPLES) as Record<string, unknown>;
    expect(writeTable(encoded).equals(amqplibBytes(encoded))).toBe(true);
    // amqplib's own guesses for plain values, which the writer mirrors.
    const plain = {
      a: 1,
      b: 1.5,
      c: 2 ** 31,
      d: -(2 ** 15) - 1,
      e: [true, null, "x", Buffer.alloc(2)],
      f: {},
    };
    expect(writeTable(plain).equals(amqplibBytes(plain))).toBe(true);
  });

  it("reads back what it encodes: 64-bit integers as BigInt, dates as Date, types kept for a republish", () => {
    const encoded = encodeHeaders(SAMPLES) as Record<string, unknown>;
    const read = decodeHeaders(writeTable(encoded));
    expect(read).toMatchObject({
      text: "héllo 🌍",
      long: 2 ** 40,
      safeMax: Number.MAX_SAFE_INTEGER,
      fraction: 0.1,
      unsafe: 2 ** 60,
      negativeUnsafe: -(2 ** 60) - 2048,
      big: 9223372036854775807n,
      negativeBig: -9223372036854775808n,
      one: 1,
      at: new Date(1_700_000_000_000),
      epoch: new Date(0),
      nothing: null,
      bytes: Buffer.from([1, 2, 3]),
      view: Buffer.from([9, 8]),
      list: [1, "two", [3, new Date(1000)], { four: 4 }],
      table: { nested: { deeper: { id: 1234567890123456789n } } },
      typed: {
        B: 255,
        i: 4_294_967_295,
        f: 0.5,
        T: { "!": "timestamp", value: 18_446_744_073_709_551_615n },
        D: { "!": "decimal", value: { places: 3, digits: 4_294_967_295 } },
      },
    });
    expect(Object.hasOwn(read, "skipped")).toBe(false);
    // amqplib's reading of the same bytes rounds the longs.
    expect(codec.decodeFields(writeTable(encoded)).big).toBe(Number(9223372036854775807n));
    expect(BigInt(codec.decodeFields(writeTable(encoded)).big as number)).not.toBe(9223372036854775807n);
    // What a retry sends: the bytes it came as.
    const again = encodeHeaders(headersToRepublish(read)) as Record<string, unknown>;
    expect(writeTable(again).equals(writeTable(encoded))).toBe(true);
  });

  it("keeps a value the handler changed, and the type of those it did not touch", () => {
    const read = decodeHeaders(writeTable({ n: { "!": "int", value: 5 }, m: { "!": "int", value: 6 } }));
    read.m = 7;
    read.added = "x";
    expect(headersToRepublish(read)).toEqual({ n: { "!": "int", value: 5 }, m: 7, added: "x" });
    const copy = cloneHeaders(read);
    expect(wasDecoded(copy)).toBe(true);
    expect(headersToRepublish(copy)).toEqual(headersToRepublish(read));
    expect(headersToRepublish({ plain: 1 })).toEqual({ plain: 1 });
  });

  it("is idempotent, so every publish path may run it", () => {
    const once = encodeHeaders(SAMPLES);
    expect(encodeHeaders(once)).toEqual(once);
    expect(encodeHeaders(undefined)).toBeUndefined();
    expect(() => encodeHeaders("x")).toThrow(HeaderValueError);
  });

  it("finds the table in a content-header frame (after the content type and encoding)", () => {
    const table = writeTable({ id: { "!": "long", value: 2n ** 62n } });
    const props = Buffer.concat([
      Buffer.from([0xe0, 0x00]), // content-type, content-encoding, headers
      Buffer.from([16]),
      Buffer.from("application/json"),
      Buffer.from([4]),
      Buffer.from("gzip"),
      Buffer.from([0, 0, 0, table.length]),
      table,
    ]);
    const payload = Buffer.concat([Buffer.from([0, 60, 0, 0]), Buffer.alloc(8), props]);
    const head = Buffer.from([2, 0, 1, 0, 0, 0, 0]);
    head.writeUInt32BE(payload.length, 3);
    const frame = Buffer.concat([head, payload, Buffer.from([0xce])]);
    expect(headerTableAt(frame)?.equals(table)).toBe(true);
    // Incomplete: amqplib reads more first, and the next call sees the whole frame.
    expect(headerTableAt(frame.subarray(0, frame.length - 1))).toBeUndefined();
    // Not a content header.
    expect(headerTableAt(Buffer.concat([Buffer.from([1]), frame.subarray(1)]))).toBeUndefined();
  });

  it("warns once, and leaves amqplib's decoding, when amqplib no longer has what it patches", () => {
    const { logger, lines } = captureLogs("warn");
    const fake = { connection: {} } as unknown as ChannelModel;
    expect(installHeaderDecoder(fake, logger)).toBe(false);
    expect(installHeaderDecoder({} as ChannelModel, logger)).toBe(false);
    expect(lines.filter((line) => /header decoder/.test(line.msg))).toHaveLength(1);
  });
});

describe("the test client reads headers as RabbitMQ delivers them (issue #14.3)", () => {
  function app(): App {
    return new App({ logger: silentLogger, amqp: { url: "amqp://127.0.0.1:1" } });
  }

  it("a Date and a BigInt given to deliver() or published by a handler arrive as they would", async () => {
    const subject = app();
    const seen: Record<string, unknown>[] = [];
    subject.route(["in"], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(m?.headers ?? {});
      await subject.amqp.publish({}, { routingKey: "out", headers: { id: 2n ** 62n, at: new Date(5000) } });
    });
    subject.route(["out"], { type: RouteTypes.AMQP }, async ([m]) => {
      seen.push(m?.headers ?? {});
    });
    const client = createTestClient(subject);
    try {
      const [result] = await client.amqp.deliver("in", [{}], {
        headers: { at: new Date(1_700_000_000_500), id: 9223372036854775807n, small: 3n },
      });
      await client.amqp.idle();
      expect(seen[0]).toEqual({ at: new Date(1_700_000_000_000), id: 9223372036854775807n, small: 3 });
      expect(seen[1]).toEqual({ id: 2n ** 62n, at: new Date(5000) });
      expect(result?.published[0]?.headers).toEqual({ id: 2n ** 62n, at: new Date(5000) });
      await expect(client.amqp.deliver("in", [{}], { headers: { f: () => 1 } })).rejects.toBeInstanceOf(
        HeaderValueError,
      );
      // Refused before anything was enqueued: nothing is left waiting.
      await client.amqp.idle({ timeout: 1000 });
    } finally {
      await client.close();
    }
  });
});
