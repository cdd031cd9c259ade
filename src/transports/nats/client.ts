import { InvalidOptionError } from "../../core/errors.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import { duration, knownKeys, nonEmptyString } from "../../core/validate.js";
import {
  listDeadLetters,
  type NATSDeadLetter,
  type NATSDeadLetterQuery,
  type NATSReplayOptions,
  purgeDeadLetters,
  replayDeadLetters,
} from "./dead-letters.js";
import type { NATSPort, PublishAck } from "./port.js";

/** Options of `app.nats.publish`. */
export interface NATSPublishOptions {
  /** The subject; a stream must capture it (else `WEIR_ERR_NATS_NO_STREAM`). Required. */
  subject: string;
  /** NATS headers (string values). */
  headers?: Readonly<Record<string, string>>;
  /**
   * `Nats-Msg-Id`: JetStream drops a second publish with the same id within the stream's duplicate
   * window (2 min by default), so a publish retried after a timeout stores one copy. The same name
   * as `app.amqp.publish`, `app.redis.publish` and `app.sqs.publish` use.
   * @defaultValue none
   */
  messageId?: string;
  /**
   * The former name of `messageId`, still accepted; giving both with different values throws
   * `WEIR_ERR_INVALID_OPTION`.
   * @deprecated use messageId
   */
  msgID?: string;
  /**
   * ms to wait for the stream's ack.
   * @defaultValue the app's `nats.timeout` (5000)
   */
  timeout?: number;
}

/** What `app.nats` offers. */
export interface NATSClient {
  /**
   * Publishes `body` (JSON-encoded; a `Uint8Array` / `Buffer` as is) and resolves once a stream
   * stored it, with the stream's name and the message's sequence (`duplicate`: dropped as a
   * repeated `messageId`). Connects on first use. Rejects with `NATSNoStreamError`
   * (`WEIR_ERR_NATS_NO_STREAM`) when no stream captures the subject, `NATSPublishTimeoutError`
   * (`WEIR_ERR_NATS_PUBLISH_TIMEOUT`) without an ack in time, `NATSPublishError`
   * (`WEIR_ERR_NATS_PUBLISH`) when JetStream refuses it, `NATSConnectError` (`WEIR_ERR_NATS_CONNECT`)
   * when no server answers.
   */
  publish(body: unknown, options: NATSPublishOptions): Promise<PublishAck>;
  /**
   * The dead letters of `stream` (in `<stream>-dlq` on `weir.dlq.<stream>`, or the route's
   * `deadLetter`), oldest first, left in place.
   */
  deadLetters(stream: string, query?: NATSDeadLetterQuery): Promise<NATSDeadLetter[]>;
  /**
   * Publishes the dead letters of `stream` back to their original subjects (attempts start again),
   * deleting each from the dead-letter stream once the source stream acked it.
   */
  replay(stream: string, options?: NATSReplayOptions): Promise<{ replayed: number; skipped: number }>;
  /** Deletes the dead letters of `stream`; resolves with how many. */
  purgeDeadLetters(stream: string, query?: NATSDeadLetterQuery): Promise<number>;
}

const PUBLISH_KEYS = ["subject", "headers", "messageId", "msgID", "timeout"];

/** `messageId`, or its deprecated alias `msgID`; both with different values is an error. */
export function publishMessageId(options: { messageId?: string; msgID?: string }): string | undefined {
  const { messageId, msgID } = options;
  if (messageId !== undefined && msgID !== undefined && messageId !== msgID) {
    throw new InvalidOptionError(
      "messageId",
      `and msgID (its deprecated alias) name different ids (${JSON.stringify(messageId)}, ${JSON.stringify(msgID)}): give messageId only`,
    );
  }
  return messageId ?? msgID;
}

/** The bytes `app.nats.publish` sends for `body`. */
export function encodeBody(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  const text = JSON.stringify(body);
  if (text === undefined)
    throw new InvalidOptionError("body", "cannot be encoded as JSON (undefined, a function)");
  return Buffer.from(text, "utf8");
}

export function natsClient(port: () => NATSPort, instrumentation: Instrumentation): NATSClient {
  return {
    async publish(body, options) {
      if (typeof options !== "object" || options === null) {
        throw new InvalidOptionError("publish", "needs options with a subject: { subject }");
      }
      knownKeys("publish", options, PUBLISH_KEYS);
      const subject = nonEmptyString("subject", options.subject);
      const messageId = publishMessageId(options);
      const timeout = options.timeout === undefined ? undefined : duration("timeout", options.timeout, 0);
      const headers = options.headers;
      if (headers !== undefined) {
        for (const [key, value] of Object.entries(headers)) {
          if (typeof value !== "string") throw new InvalidOptionError(`headers.${key}`, "must be a string");
        }
      }
      const data = encodeBody(body);
      return instrumentation.runPublish({ transport: "nats", destination: subject }, (trace) => {
        const merged = Object.keys(trace).length === 0 ? headers : { ...headers, ...trace };
        return port().publish(subject, data, {
          ...(merged === undefined ? {} : { headers: merged }),
          ...(messageId === undefined ? {} : { msgID: messageId }),
          ...(timeout === undefined ? {} : { timeout }),
        });
      });
    },
    deadLetters: (stream, query) => listDeadLetters(port(), nonEmptyString("stream", stream), query),
    replay: (stream, options) => replayDeadLetters(port(), nonEmptyString("stream", stream), options),
    purgeDeadLetters: (stream, query) => purgeDeadLetters(port(), nonEmptyString("stream", stream), query),
  };
}
