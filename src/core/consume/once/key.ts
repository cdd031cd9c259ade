import { createHash } from "node:crypto";
import type { Delivery } from "../delivery.js";

/**
 * The default dedup key: the sender's id for the message (AMQP `message-id`, the SSE event `id:`),
 * else a SHA-256 of the raw body.
 */
export function defaultOnceKey(message: Delivery): string {
  const id = message.messageId;
  if (typeof id === "string" && id.length > 0) return `id:${id}`;
  return `sha256:${createHash("sha256").update(message.rawBytes).digest("base64url")}`;
}
