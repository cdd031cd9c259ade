import { decodeHeaders, headersToRepublish } from "./decode.js";
import { encodeHeaders } from "./encode.js";
import { writeTable } from "./write.js";

/**
 * The headers a consumer receives for `headers` sent through weir: encoded as a publish encodes
 * them (a `HeaderValueError` for what cannot be sent), written as amqplib writes them, read back as
 * weir reads a delivery. Headers weir decoded keep the types they came with. weir/testing's
 * in-memory broker stores every message's headers this way, so a handler under test sees what it
 * would see from RabbitMQ.
 */
export function throughTheWire(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  return decodeHeaders(writeTable(encodeHeaders(headersToRepublish(headers ?? {})) ?? {}));
}
