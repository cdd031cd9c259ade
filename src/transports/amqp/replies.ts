import { InvalidOptionError, UnrecoverableError } from "../../core/errors.js";
import { failureFields, type Logger } from "../../core/logger.js";
import { knownKeys } from "../../core/validate.js";
import type { AMQPMessage } from "./message.js";
import type { Options } from "./port.js";
import { encodeBody } from "./publish-options.js";
import { type RemoteErrorBody, ReplyShapeError } from "./request-errors.js";
import { REPLY_ERROR_HEADER } from "./requester.js";
import type { AMQPHandler, AMQPRoute } from "./route-spec.js";

/** `reply` on an AMQP route: it answers requests (`app.amqp.request`, or any client's `replyTo`). */
export interface ReplyOptions {
  /**
   * Send a failed handler's stack to the caller (`RemoteError.remoteStack`). Stacks name files and
   * lines of the server: leave it off where callers are not trusted.
   * @defaultValue false
   */
  includeStack?: boolean;
}

/** `reply` with its defaults applied; undefined: the route does not reply. */
export interface ResolvedReply {
  readonly includeStack: boolean;
}

export function normalizeReply(value: boolean | ReplyOptions | undefined): ResolvedReply | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { includeStack: false };
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError("reply", `must be true, false or { includeStack }, got ${String(value)}`);
  }
  knownKeys("reply", value, ["includeStack"]);
  if (value.includeStack !== undefined && typeof value.includeStack !== "boolean") {
    throw new InvalidOptionError(
      "reply.includeStack",
      `must be true or false, got ${String(value.includeStack)}`,
    );
  }
  return { includeStack: value.includeStack ?? false };
}

/** Publishes one reply (to the default exchange, routed by the request's `replyTo`). */
export type ReplySender = (routingKey: string, content: Buffer, properties: Options.Publish) => Promise<void>;

/**
 * Wraps a replying route's handler: after each call, every message of the bulk that carries a
 * `replyTo` gets its reply, handed to the publisher before the bulk is settled: `m.reply(value)` when the handler called it,
 * else the handler's returned array at the message's index; a failure of the handler is sent as an
 * error reply (`RemoteError` for the caller), except to a message `retry` will run again (its last
 * attempt replies). The handler's outcome is then returned or thrown unchanged, so the route's usual
 * rules settle the messages. A reply that cannot be sent is logged; the message still settles (its
 * caller times out).
 */
export function replyingHandler(
  route: AMQPRoute,
  reply: ResolvedReply,
  handler: AMQPHandler,
  send: ReplySender,
  logger: Logger,
): AMQPHandler {
  return async (messages, context) => {
    for (const message of messages) message.replyEnabled = true;
    let result: unknown;
    let failure: unknown;
    let failed = false;
    try {
      result = await handler(messages, context);
    } catch (error) {
      failed = true;
      failure = error;
    }
    let shape: ReplyShapeError | undefined;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      const replyTo = message.properties.replyTo;
      if (typeof replyTo !== "string" || replyTo === "") continue;
      if (message.replyValue !== undefined) {
        deliver(message, replyTo, encodeReply(message.replyValue.value));
      } else if (failed) {
        if (!willRetry(route, message, failure)) {
          deliver(message, replyTo, encodeFailure(failure, reply.includeStack));
        }
      } else if (Array.isArray(result) && i < result.length) {
        deliver(message, replyTo, encodeReply(result[i]));
      } else {
        shape ??= new ReplyShapeError(
          `a route with \`reply\` must return an array with one reply per message of its bulk (or call ` +
            `m.reply()); it returned ${describe(result)} for a bulk of ${messages.length}`,
        );
        deliver(message, replyTo, encodeFailure(shape, false));
      }
    }
    if (shape !== undefined) logger.error({ code: shape.code }, shape.message);
    if (failed) throw failure;
    return result;
  };

  /**
   * Hands the reply to the publisher (written at once when it has room) without waiting for its
   * confirm: a direct reply-to reply is not stored anyway, only routed to the caller's channel, so a
   * confirm would add a round trip to every request and protect nothing the caller's timeout does
   * not. Its outcome is logged; the publisher's buffer bounds what waits during an alarm.
   */
  function deliver(message: AMQPMessage, replyTo: string, encoded: EncodedReply): void {
    const properties: Options.Publish = {
      contentType: encoded.contentType,
      correlationId: message.properties.correlationId,
      // A reply is for a caller that waits now: nothing to keep on disk, nothing to return.
      persistent: false,
      mandatory: false,
      ...(encoded.error !== undefined && { headers: { [REPLY_ERROR_HEADER]: encoded.error } }),
    };
    send(replyTo, encoded.content, properties).catch((error: unknown) => {
      logger.warn(
        {
          ...failureFields(error),
          route: route.name,
          replyTo,
          correlationId: message.properties.correlationId ?? null,
        },
        "the reply could not be sent; the caller will time out",
      );
    });
  }
}

interface EncodedReply {
  readonly content: Buffer;
  readonly contentType: string;
  /** The failure's code (or "Error"), for the error header; undefined for a reply. */
  readonly error?: string;
}

function encodeReply(value: unknown): EncodedReply {
  // `undefined` has no JSON: a handler that answers nothing answers null.
  return encodeBody(value === undefined ? null : value, undefined);
}

function encodeFailure(error: unknown, includeStack: boolean): EncodedReply {
  const body = remoteBody(error, includeStack);
  return { ...encodeBody(body, undefined), error: body.code ?? body.name };
}

/** What the caller learns of a failure: code, class name and message; the stack only if asked. */
export function remoteBody(error: unknown, includeStack: boolean): RemoteErrorBody {
  if (!(error instanceof Error)) return { code: null, name: "Error", message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    code: typeof code === "string" ? code : null,
    // A subclass that does not set `name` still says "Error": its class name says more.
    name: error.name === "Error" && error.constructor.name !== "" ? error.constructor.name : error.name,
    message: error.message,
    ...(includeStack && error.stack !== undefined && { stack: error.stack }),
  };
}

/** Whether a failed message comes back through `retry` (so this attempt does not reply). */
function willRetry(route: AMQPRoute, message: AMQPMessage, error: unknown): boolean {
  if (route.retry === undefined || error instanceof UnrecoverableError) return false;
  return message.attempt < route.retry.maxAttempts;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${value === null ? "null" : typeof value}`;
}
