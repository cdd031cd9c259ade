import type { JsMsg } from "@nats-io/jetstream";

/**
 * What weir reads under the client's `JsMsg` on the ack path, where the public API costs most of
 * a message's client time. @nats-io/jetstream 3.x's `JsMsgImpl` keeps the core message as `msg`
 * (a `MsgImpl`), whose `_msg.reply` is the reply subject's bytes as the parser read them (a view
 * of the socket's read buffer) and whose `publisher` is the connection's protocol handler, with
 * the send queue every publish goes through (`sendCommand`: written once per microtask, emptied
 * when the client reconnects, for acks as for every publish: what the settle log is for). Private:
 * every use is guarded and falls back to the public API, and test/nats/client-internals.test.ts
 * checks on a real message that the installed client still has them (package.json pins 3.3.x).
 */
interface ClientMessageInternals {
  didAck?: boolean;
  readonly msg?: {
    readonly _msg?: { readonly reply?: unknown };
    readonly publisher?: {
      sendCommand?: (command: Uint8Array, ...payloads: Uint8Array[]) => void;
      outBytes?: number;
      outMsgs?: number;
    };
  };
}

/**
 * @internal The reply subject's bytes as the client read them, or `undefined` when this client
 * version does not expose them (callers then use the `reply` string).
 */
export function replyBytes(message: JsMsg): Uint8Array | undefined {
  const bytes = (message as JsMsg & ClientMessageInternals).msg?._msg?.reply;
  return bytes instanceof Uint8Array && bytes.byteLength > 0 ? bytes : undefined;
}

const PUB = new TextEncoder().encode("PUB ");
/** ` 4\r\n+ACK\r\n`: the payload's length, then JetStream's ack (jsmsg.js's `ACK`), then the end. */
const ACK_TAIL = new TextEncoder().encode(" 4\r\n+ACK\r\n");

/**
 * @internal Acks `message`, whose reply subject's bytes are `reply` ({@link replyBytes}), as `JsMsg.ack()` does (a publish of `+ACK` to its reply subject, no
 * reply: NATS protocol `PUB <subject> <#bytes>␍␊<payload>␍␊`, docs.nats.io "Client Protocol"),
 * with the frame given to the client's send queue as three byte strings: the reply's own bytes
 * between two constants. The public path decodes the reply's bytes to a string, builds the
 * command as a string and encodes it again, per message: 1.2 µs of the client's 7.5 µs a message
 * (bench/nats.ts, docs/performance.md). Returns false, having sent nothing, when the client does
 * not expose what this needs or the message was answered already; the caller then calls `ack()`.
 */
export function sendAck(message: JsMsg, reply: Uint8Array): boolean {
  const internals = message as JsMsg & ClientMessageInternals;
  const publisher = internals.msg?.publisher;
  if (internals.didAck !== false || publisher?.sendCommand === undefined) return false;
  // As JsMsgImpl.doAck: an ack is final (a second ack, nak or term is ignored by the client).
  internals.didAck = true;
  // The counters the client's own publish keeps (`nc.stats()`).
  if (typeof publisher.outBytes === "number") publisher.outBytes += 4;
  if (typeof publisher.outMsgs === "number") publisher.outMsgs++;
  publisher.sendCommand(PUB, reply, ACK_TAIL);
  return true;
}
