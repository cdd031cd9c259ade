import { ConfigurationError, WeirError } from "../../core/errors.js";

/**
 * Errors of request / reply (`app.amqp.request`, routes with `reply`). A request that could not be
 * routed rejects with the publish error `WEIR_ERR_PUBLISH_UNROUTABLE` (nothing was stored), as a
 * publish does; the others are here.
 */
export class RequestError extends WeirError {}

/**
 * `WEIR_ERR_REQUEST_TIMEOUT`: no reply within the request's `timeout`. The request may have been
 * handled (or still be): send it again only if the serving route deduplicates (`once`). A reply
 * that arrives later is dropped.
 */
export class RequestTimeoutError extends RequestError {
  constructor(
    /** Where the request was sent. */
    readonly exchange: string,
    readonly routingKey: string,
    /** The timeout that passed (ms). */
    readonly timeout: number,
    detail = "",
  ) {
    super(
      "WEIR_ERR_REQUEST_TIMEOUT",
      `no reply within ${timeout} ms to the request sent to ${destination(exchange, routingKey)}${detail}; ` +
        "it may have been handled",
    );
  }
}

/**
 * `WEIR_ERR_REQUEST_LOST`: the channel that waited for the reply closed (a lost connection, the app
 * stopping) before the reply came. A direct reply-to reply can only reach the channel that sent the
 * request, so it can no longer arrive. The request may have been handled.
 */
export class RequestLostError extends RequestError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(
      "WEIR_ERR_REQUEST_LOST",
      `the reply channel closed before the reply came (${reason}); the request may have been handled`,
      options,
    );
  }
}

/** What a serving route sends back when its handler failed (JSON, with the `x-weir-error` header). */
export interface RemoteErrorBody {
  /** The remote error's `code` (a `WEIR_ERR_*` or the application's own); `null` when it had none. */
  readonly code: string | null;
  /** The remote error's class name (`Error`, `TypeError`, ...). */
  readonly name: string;
  readonly message: string;
  /** Only when the route asked for it (`reply: { includeStack: true }`). */
  readonly stack?: string;
}

/**
 * `WEIR_ERR_REMOTE`: the serving route's handler failed (threw, or gave no reply for this request).
 * `code` is always `WEIR_ERR_REMOTE`: the remote error's own code is `remoteCode`. `remoteName` and
 * the message are the remote error's; the stack only when the serving route sends it
 * (`reply: { includeStack: true }`); `exchange` and `routingKey` say where the request went.
 */
export class RemoteError extends RequestError {
  /** The remote error's own `code`; `null` when it had none. */
  readonly remoteCode: string | null;
  /** The remote error's class name. */
  readonly remoteName: string;
  /** The remote stack, when the serving route sends it. */
  readonly remoteStack: string | undefined;
  /** Where the request was sent (`""`: the default exchange). */
  readonly exchange: string;
  /** The request's routing key (with the default exchange, the serving route's queue). */
  readonly routingKey: string;

  constructor(body: RemoteErrorBody, exchange = "", routingKey = "") {
    super("WEIR_ERR_REMOTE", body.message);
    this.remoteCode = body.code;
    this.remoteName = body.name;
    this.remoteStack = body.stack;
    this.exchange = exchange;
    this.routingKey = routingKey;
  }
}

/**
 * `WEIR_ERR_REPLY_SHAPE`: a route with `reply` returned something other than an array with one
 * reply per message (and did not call `m.reply()` for the others). The callers of those messages
 * get a `RemoteError` with this code; the messages settle as the handler succeeded.
 */
export class ReplyShapeError extends RequestError {
  constructor(message: string) {
    super("WEIR_ERR_REPLY_SHAPE", message);
  }
}

/** `WEIR_ERR_REPLY_NOT_ENABLED`: `m.reply()` on a message of a route without `reply`. */
export class ReplyNotEnabledError extends ConfigurationError {
  constructor() {
    super(
      "WEIR_ERR_REPLY_NOT_ENABLED",
      "m.reply() needs a route with `reply: true` (its replies are published to each message's replyTo)",
    );
  }
}

function destination(exchange: string, routingKey: string): string {
  return exchange === "" ? `queue "${routingKey}"` : `exchange "${exchange}" (routing key "${routingKey}")`;
}
