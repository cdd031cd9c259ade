/**
 * How a weir message is laid out in a stream entry: its JSON body in the field `body`, every other
 * field a header (a string). An entry written by another producer without a `body` field is handed
 * over as its fields (an object of strings). Retries and dead letters carry weir's `x-weir-*`
 * fields, so the attempt count travels with the entry and survives a worker's restart.
 */

/** A stream entry's fields, by name. */
export type Fields = Record<string, string>;

export const BODY_FIELD = "body";

export const RedisFields = {
  /** The sender's id for the message (`publish({ messageId })`): the default `once` key. */
  MESSAGE_ID: "message-id",
  /** The body's media type, when it is not JSON. */
  CONTENT_TYPE: "content-type",
  /** How many times the handler failed on this message so far (absent: never). */
  ATTEMPTS: "x-weir-attempts",
  /** The latest error's message, truncated to 1,024 characters. */
  ERROR: "x-weir-error",
  /** The latest error's `code`, else its class name. */
  ERROR_CODE: "x-weir-error-code",
  /** When the latest failure happened (ISO 8601). */
  LAST_FAILURE: "x-weir-last-failure",
  /** Why it was dead-lettered: max-attempts, unrecoverable, dead-lettered, rejected, invalid-json, schema. */
  REASON: "x-weir-reason",
  /** The stream it was consumed from, where a replay sends it back. */
  ORIGINAL_STREAM: "x-weir-original-stream",
  /** Its entry id in that stream. */
  ORIGINAL_ID: "x-weir-original-id",
  /** The group that dead-lettered it. */
  GROUP: "x-weir-group",
  /**
   * On a retry written back to the stream: the group it is for. Other groups of the stream ack it
   * without handling it (they had the original).
   */
  RETRY_GROUP: "x-weir-retry-group",
  /** How many times it was replayed from the dead-letter stream. */
  REPLAYS: "x-weir-replays",
} as const;

const MAX_ERROR_LENGTH = 1024;

/** A flat `[name, value, name, value, ...]` reply as an object. */
export function fieldsOf(flat: readonly string[]): Fields {
  const fields: Fields = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

/** An object of fields as XADD's arguments. */
export function flatten(fields: Fields): string[] {
  const flat: string[] = [];
  for (const [name, value] of Object.entries(fields)) flat.push(name, value);
  return flat;
}

/** `x-weir-attempts` of an entry (0 when absent or not a number). */
export function attemptsOf(fields: Fields): number {
  const value = Number(fields[RedisFields.ATTEMPTS]);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/** What `error` says in a header: its message (truncated) and its code. */
export function describeError(error: unknown): { message: string; code: string } {
  const err = error as { message?: unknown; code?: unknown; constructor?: { name?: unknown } } | undefined;
  const message = typeof err?.message === "string" ? err.message : String(error);
  const code =
    typeof err?.code === "string"
      ? err.code
      : typeof err?.constructor?.name === "string"
        ? err.constructor.name
        : "Error";
  return { message: message.slice(0, MAX_ERROR_LENGTH), code };
}

/** The fields of a failed entry sent on (a retry or a dead letter): its own, plus the failure's. */
export function failureFields(fields: Fields, attempts: number, error: unknown, now: Date): Fields {
  const { message, code } = describeError(error);
  return {
    ...fields,
    [RedisFields.ATTEMPTS]: String(attempts),
    [RedisFields.ERROR]: message,
    [RedisFields.ERROR_CODE]: code,
    [RedisFields.LAST_FAILURE]: now.toISOString(),
  };
}

/** The fields a replay writes back: weir's failure fields removed, the replay counted. */
export function replayFields(fields: Fields): Fields {
  const replays = Number(fields[RedisFields.REPLAYS] ?? "0");
  const kept: Fields = {};
  for (const [name, value] of Object.entries(fields)) if (!name.startsWith("x-weir-")) kept[name] = value;
  kept[RedisFields.REPLAYS] = String((Number.isInteger(replays) ? replays : 0) + 1);
  return kept;
}
