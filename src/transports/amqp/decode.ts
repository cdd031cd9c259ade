import type { ConsumeMessage } from "amqplib";

/** Returned by `decodeBody` for a JSON message that does not parse. A symbol: no allocation per message. */
export const INVALID_BODY: unique symbol = Symbol("weir.invalidBody");

/** JSON when the content type says so or says nothing (what most publishers send). */
function isJson(contentType: string | undefined): boolean {
  return contentType === undefined || contentType === "" || contentType.includes("json");
}

/**
 * The body a handler receives: parsed JSON for JSON (or untyped) messages, the raw Buffer for any
 * other content type, or `INVALID_BODY` when a JSON message does not parse.
 */
export function decodeBody(delivery: ConsumeMessage): unknown {
  if (!isJson(delivery.properties.contentType)) return delivery.content;
  try {
    return JSON.parse(delivery.content.toString("utf8"));
  } catch {
    return INVALID_BODY;
  }
}

/** Why a body was refused, for the log line (computed only on that rare path). */
export function invalidReason(delivery: ConsumeMessage): string {
  try {
    JSON.parse(delivery.content.toString("utf8"));
    return "unknown";
  } catch (error) {
    return (error as Error).message;
  }
}
