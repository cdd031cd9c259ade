import { failureFields, type Logger } from "../../../core/logger.js";
import type { AMQPConnection } from "../port.js";
import { adoptHeaders, decodeHeaders } from "./decode.js";

/**
 * Gives weir's header decoder the bytes amqplib decodes lossily. amqplib 2.x reads every frame in
 * `Connection#recvFrame()`, which parses the frame at the head of `connection.rest` and decodes it
 * (a content header's headers with `Number()` on 64-bit integers). The patch, on weir's own
 * connections only, looks at that frame first: when it is a content header carrying headers, it
 * copies the table's bytes, lets amqplib decode the frame as usual, then replaces the headers with
 * weir's decoding of the same bytes where amqplib's lost something (see `amqplibLost`), and keeps
 * the bytes with them for a republish (`headersToRepublish`). amqplib reads more from the socket by calling
 * `this.recvFrame()` again, which is the patch too, so each frame is seen exactly once.
 *
 * amqplib offers no hook for this (its codec is not exported, and `defs.js` binds `decodeFields`
 * when it loads). The patch checks what it relies on and reports (once, at warn) when an amqplib
 * version no longer has it: headers are then amqplib's (64-bit integers rounded). The tests of
 * test/amqp/headers.test.ts fail in that case.
 */

const FRAME_HEADER = 2;
/** Frame type (1) + channel (2) + payload size (4). */
const FRAME_PREFIX = 7;
/** Content header payload: class id (2), weight (2), body size (8), then the property flags. */
const FLAGS_AT = FRAME_PREFIX + 12;
const CONTENT_TYPE = 0x8000;
const CONTENT_ENCODING = 0x4000;
const HEADERS = 0x2000;

interface AmqplibConnection {
  rest?: unknown;
  recvFrame?: unknown;
}

interface DecodedFrame {
  fields?: { headers?: unknown };
}

const patched = new WeakSet<object>();
let warned = false;

/** The field table of the content-header frame at the head of `bytes` (a copy), if it is one. */
export function headerTableAt(bytes: Buffer): Buffer | undefined {
  if (bytes.length < FLAGS_AT + 2 || bytes[0] !== FRAME_HEADER) return undefined;
  const end = FRAME_PREFIX + bytes.readUInt32BE(3);
  // Incomplete: amqplib reads more and calls recvFrame() again.
  if (bytes.length < end + 1) return undefined;
  const flags = bytes.readUInt16BE(FLAGS_AT);
  if ((flags & HEADERS) === 0) return undefined;
  let at = FLAGS_AT + 2;
  if (flags & CONTENT_TYPE) at += 1 + bytes.readUInt8(at);
  if (flags & CONTENT_ENCODING) at += 1 + bytes.readUInt8(at);
  const length = bytes.readUInt32BE(at);
  if (at + 4 + length > end) return undefined;
  return Buffer.from(bytes.subarray(at + 4, at + 4 + length));
}

/**
 * Whether amqplib's reading of a table may differ from weir's: an integer beyond ±(2^53 - 1) (a
 * rounded 64-bit long, or a double weir reads the same), a typed value (a timestamp weir reads as a
 * Date), or a field named `__proto__` (which amqplib's assignment turns into the prototype). Most
 * headers (strings, small numbers) have none: weir then keeps amqplib's object, and the delivery
 * path pays one walk over it instead of a second decode.
 */
function amqplibLost(value: unknown): boolean {
  if (typeof value === "number") return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (typeof value !== "object" || value === null || Buffer.isBuffer(value)) return false;
  if (Array.isArray(value)) return value.some(amqplibLost);
  if (Object.getPrototypeOf(value) !== Object.prototype || Object.hasOwn(value, "!")) return true;
  for (const key in value) if (amqplibLost((value as Record<string, unknown>)[key])) return true;
  return false;
}

/**
 * Makes `model` (an amqplib connection) decode message headers with weir's decoder. Returns false,
 * silently, for a connection that decodes by itself (the in-memory broker's, `decodesHeaders`), and
 * false with one warning per process for an amqplib connection weir does not know how to patch.
 */
export function installHeaderDecoder(model: AMQPConnection, logger: Logger): boolean {
  if (model.decodesHeaders === true) return false;
  const connection = (model as unknown as { connection?: AmqplibConnection }).connection;
  if (connection === undefined || connection === null) return false;
  if (patched.has(connection)) return true;
  const recvFrame = connection.recvFrame;
  if (typeof recvFrame !== "function" || !Buffer.isBuffer(connection.rest)) {
    if (!warned) {
      warned = true;
      logger.warn(
        "this amqplib version cannot be given weir's header decoder: 64-bit integer headers are rounded",
      );
    }
    return false;
  }
  patched.add(connection);
  const original = recvFrame as (this: AmqplibConnection) => unknown;
  connection.recvFrame = function recvFrameWithHeaders(this: AmqplibConnection): unknown {
    const rest = this.rest;
    const table = Buffer.isBuffer(rest) ? headerTableAt(rest) : undefined;
    const frame = original.call(this) as DecodedFrame | false;
    const fields = frame ? frame.fields : undefined;
    if (
      table !== undefined &&
      fields !== undefined &&
      typeof fields.headers === "object" &&
      fields.headers !== null
    ) {
      try {
        const read = fields.headers as Record<string, unknown>;
        fields.headers = amqplibLost(read) ? decodeHeaders(table) : adoptHeaders(read, table);
      } catch (error) {
        // amqplib decoded the same bytes without throwing: keep its reading of them.
        logger.warn(failureFields(error), "could not decode message headers; using amqplib's reading");
      }
    }
    return frame;
  };
  return true;
}
