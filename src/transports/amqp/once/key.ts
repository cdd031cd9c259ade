import { createHash } from "node:crypto";
import type { AMQPMessage } from "../message.js";

/** The default dedup key: the `messageId` the publisher set, else a SHA-256 of the raw body. */
export function defaultOnceKey(message: AMQPMessage): string {
  const id = message.properties.messageId;
  if (typeof id === "string" && id.length > 0) return `id:${id}`;
  return `sha256:${createHash("sha256").update(message.raw).digest("base64url")}`;
}
