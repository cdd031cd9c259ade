import { InvalidOptionError, PublishError } from "../../core/errors.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import { knownKeys, nonEmptyString, positiveInteger } from "../../core/validate.js";
import type { RedisCommands } from "./commands.js";
import { BODY_FIELD, type Fields, fieldsOf, RedisFields, replayFields } from "./fields.js";
import type { RedisLink } from "./link.js";
import { DLQ_SUFFIX } from "./route-spec.js";

/** Options of `app.redis.publish`. */
export interface RedisPublishOptions {
  /** The stream (`XADD` creates it when missing). */
  stream: string;
  /**
   * Trim the stream to about this many entries as this one is added (`MAXLEN ~ maxLen`: Redis trims
   * whole nodes, so it may keep a few more). Entries are not deleted when acked: trimming is yours.
   * @defaultValue no trimming
   */
  maxLen?: number;
  /** The sender's id for the message (the field `message-id`): the default key of a route's `once`. */
  messageId?: string;
  /** More fields of the entry (headers); `body` and `x-weir-*` are weir's. */
  headers?: Readonly<Record<string, string>>;
  /**
   * ms to wait for Redis's reply. Past it the publish fails with `WEIR_ERR_PUBLISH_UNCONFIRMED`: the
   * entry may still be added (a command waits for a connection that is down, then is sent).
   * @defaultValue 10000
   */
  timeout?: number;
}

/** One entry of a dead-letter stream `<stream>.dlq`. */
export interface RedisDeadLetter {
  /** Its id in the dead-letter stream. */
  readonly id: string;
  /** The body (JSON-decoded when it parses, else the text; the fields when it had no body). */
  readonly body: unknown;
  /** Every field, `x-weir-*` included. */
  readonly fields: Readonly<Record<string, string>>;
  /** `x-weir-reason`: max-attempts, unrecoverable, dead-lettered, rejected, invalid-json, schema. */
  readonly reason: string | undefined;
  /** `x-weir-attempts`: failed handler calls. */
  readonly attempts: number;
  /** `x-weir-error`: the last error's message. */
  readonly error: string | undefined;
  /** `x-weir-original-id`: its id in the stream it came from. */
  readonly originalId: string | undefined;
}

/** What `app.redis` offers. */
export interface RedisClient {
  /**
   * Adds `body` (JSON) to a stream as the field `body`; resolves with the entry's id once Redis has
   * it. Throws `WEIR_ERR_INVALID_OPTION` for a bad option or a body JSON cannot encode, and
   * `WEIR_ERR_PUBLISH_UNCONFIRMED` (a `PublishError`) when Redis did not answer within `timeout`.
   */
  publish(body: unknown, options: RedisPublishOptions): Promise<string>;
  /** The dead letters of `stream` (`<stream>.dlq`), oldest first, without removing them. */
  listDeadLetters(stream: string, options?: { limit?: number }): Promise<RedisDeadLetter[]>;
  /**
   * Moves dead letters back to `stream` (attempts reset, `x-weir-replays` counted), oldest first;
   * `filter` keeps the ones to replay (the others stay).
   */
  replay(
    stream: string,
    options?: { limit?: number; filter?: (letter: RedisDeadLetter) => boolean },
  ): Promise<{ replayed: number; skipped: number }>;
  /** Deletes `<stream>.dlq`; resolves with how many dead letters it held. */
  purgeDeadLetters(stream: string): Promise<number>;
}

const PUBLISH_KEYS = ["stream", "maxLen", "messageId", "headers", "timeout"];

function letterOf(id: string, fields: Fields): RedisDeadLetter {
  const text = fields[BODY_FIELD];
  let body: unknown = fields;
  if (text !== undefined) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  const attempts = Number(fields[RedisFields.ATTEMPTS] ?? "0");
  return {
    id,
    body,
    fields,
    reason: fields[RedisFields.REASON],
    attempts: Number.isInteger(attempts) ? attempts : 0,
    error: fields[RedisFields.ERROR],
    originalId: fields[RedisFields.ORIGINAL_ID],
  };
}

/** `app.redis`: publishing through the transport's commands (Redis, or weir/testing's memory). */
export function redisClient(
  link: RedisLink,
  commands: RedisCommands,
  instrumentation: Instrumentation,
  type: string,
): RedisClient {
  const readLetters = async (stream: string, limit: number): Promise<RedisDeadLetter[]> => {
    const client = await link.commands();
    const entries = (await client.call("XRANGE", [
      `${stream}${DLQ_SUFFIX}`,
      "-",
      "+",
      "COUNT",
      String(limit),
    ])) as [string, string[]][];
    return entries.map(([id, flat]) => letterOf(id, fieldsOf(flat)));
  };
  return {
    async publish(body, options) {
      if (typeof options !== "object" || options === null) {
        throw new InvalidOptionError("publish", "needs options like { stream }");
      }
      knownKeys("publish", options, PUBLISH_KEYS);
      const stream = nonEmptyString("stream", options.stream);
      const maxLen = options.maxLen === undefined ? undefined : positiveInteger("maxLen", options.maxLen, 1);
      const timeout = positiveInteger("timeout", options.timeout, 10_000);
      const text = JSON.stringify(body);
      if (text === undefined) throw new InvalidOptionError("body", "must be a value JSON can encode");
      const extra: Fields = {};
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        if (name === BODY_FIELD || name.startsWith("x-weir-") || typeof value !== "string") {
          throw new InvalidOptionError(`headers.${name}`, "must be a string, and not body or x-weir-*");
        }
        extra[name] = value;
      }
      if (options.messageId !== undefined)
        extra[RedisFields.MESSAGE_ID] = nonEmptyString("messageId", options.messageId);
      return instrumentation.runPublish({ transport: type, destination: stream }, async (trace) => {
        const fields: Fields = { ...trace, ...extra, [BODY_FIELD]: text };
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new PublishError(
                  "WEIR_ERR_PUBLISH_UNCONFIRMED",
                  `Redis did not confirm the entry for stream "${stream}" within ${timeout} ms; it may still be added`,
                ),
              ),
            timeout,
          );
        });
        try {
          return await Promise.race([commands.add(stream, fields, maxLen), expired]);
        } finally {
          clearTimeout(timer);
        }
      });
    },
    listDeadLetters(stream, options) {
      return readLetters(stream, positiveInteger("limit", options?.limit, 100));
    },
    async replay(stream, options) {
      const limit = positiveInteger("limit", options?.limit, Number.MAX_SAFE_INTEGER);
      const client = await link.commands();
      const dlq = `${stream}${DLQ_SUFFIX}`;
      let replayed = 0;
      let skipped = 0;
      let cursor = "-";
      while (replayed < limit) {
        const entries = (await client.call("XRANGE", [dlq, cursor, "+", "COUNT", "100"])) as [
          string,
          string[],
        ][];
        if (entries.length === 0) break;
        for (const [id, flat] of entries) {
          if (replayed >= limit) break;
          const letter = letterOf(id, fieldsOf(flat));
          if (options?.filter !== undefined && !options.filter(letter)) {
            skipped++;
            continue;
          }
          // Back to the stream and out of the dead letters together: never both, never neither.
          await client
            .multi()
            .xadd(stream, "*", ...flattenFields(replayFields(letter.fields)))
            .xdel(dlq, id)
            .exec();
          replayed++;
        }
        cursor = `(${entries[entries.length - 1]![0]}`;
      }
      return { replayed, skipped };
    },
    async purgeDeadLetters(stream) {
      const client = await link.commands();
      const dlq = `${stream}${DLQ_SUFFIX}`;
      const replies = await client.multi().xlen(dlq).del(dlq).exec();
      return Number(replies?.[0]?.[1] ?? 0);
    },
  };
}

function flattenFields(fields: Fields): string[] {
  return Object.entries(fields).flat();
}
