import { PublishError } from "../../core/errors.js";
import { formatIssues, type SchemaIssue } from "../../core/schema.js";

/**
 * What a failed publish tells its caller: whether the message may be on the broker. Every publish
 * error says it in `sent`, so a caller's rule is one line: `sent === false` is safe to publish
 * again; `sent === true` may be stored already (publish again only with a `messageId` the consumer
 * deduplicates on, e.g. the route's `once`).
 */

/** Why a publish was never written to the broker (`PublishNotSentError.reason`). */
export type NotSentReason =
  /** No connection or channel to the broker within the publish timeout. */
  | "no-connection"
  /** The broker blocked the publishing connection (a memory or disk alarm) for the whole timeout. */
  | "blocked"
  /** The publish buffer (`amqp.publishBuffer`) stayed full for the whole timeout. */
  | "buffer-full";

/**
 * `WEIR_ERR_PUBLISH_NOT_SENT`: the message never left weir (no connection, a broker alarm, a full
 * publish buffer, each for the whole publish timeout). Nothing was stored: safe to publish again.
 */
export class PublishNotSentError extends PublishError {
  override readonly sent = false;

  constructor(
    readonly reason: NotSentReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("WEIR_ERR_PUBLISH_NOT_SENT", message, options);
  }
}

/**
 * `WEIR_ERR_PUBLISH_UNCONFIRMED`: the message was written to the connection, but no confirm came
 * back within the publish timeout, or the channel or connection closed first. The broker may have
 * stored it (after an alarm it usually has): publish again only if consumers deduplicate.
 */
export class PublishUnconfirmedError extends PublishError {
  override readonly sent = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super("WEIR_ERR_PUBLISH_UNCONFIRMED", message, options);
  }
}

/**
 * `WEIR_ERR_PUBLISH_NACK`: the broker answered with basic.nack: it did not take responsibility for
 * the message (a queue's `reject-publish` overflow, an internal error). RabbitMQ's advice is to
 * publish again; a message routed to several queues may have reached some of them, so it counts as
 * sent (https://www.rabbitmq.com/docs/confirms#server-sent-nacks).
 */
export class PublishNackError extends PublishError {
  override readonly sent = true;

  constructor(options?: { cause?: unknown }) {
    super("WEIR_ERR_PUBLISH_NACK", "the broker did not take the message (basic.nack)", options);
  }
}

/** `WEIR_ERR_PUBLISH_CLOSED`: the app is stopping or stopped; the message was not sent. */
export class PublishClosedError extends PublishError {
  override readonly sent = false;

  constructor(message = "cannot publish: the app is stopped") {
    super("WEIR_ERR_PUBLISH_CLOSED", message);
  }
}

/**
 * `WEIR_ERR_PUBLISH_SCHEMA`: a typed publisher's `schema` (`app.amqp.publisher({ schema })`) refused
 * the body. Nothing was sent. `issues` lists why, each with a dotted `path` (`items.0.sku`) and a
 * message, as the consume side's `SchemaValidationError` does.
 */
export class PublishSchemaError extends PublishError {
  override readonly sent = false;
  /** The publisher's name (its `name` option, else where it sends). */
  readonly publisher: string;
  /** Why the schema refused the body. */
  readonly issues: readonly SchemaIssue[];

  constructor(publisher: string, issues: readonly SchemaIssue[]) {
    super(
      "WEIR_ERR_PUBLISH_SCHEMA",
      `publisher "${publisher}": the body fails its schema: ${formatIssues(issues)}; nothing was sent`,
    );
    this.publisher = publisher;
    this.issues = issues;
  }
}

/**
 * The broker answered the publish itself, saying where the message did not go: returned as
 * unroutable (`WEIR_ERR_PUBLISH_UNROUTABLE`), or refused by a channel error naming its exchange
 * (`WEIR_ERR_PUBLISH_NO_EXCHANGE`, `WEIR_ERR_PUBLISH_REFUSED`). Nothing was stored; publishing the
 * same message again fails the same way until the topology or the permissions change.
 */
export class PublishRejectedError extends PublishError {
  override readonly sent = false;

  constructor(
    code: "WEIR_ERR_PUBLISH_UNROUTABLE" | "WEIR_ERR_PUBLISH_NO_EXCHANGE" | "WEIR_ERR_PUBLISH_REFUSED",
    message: string,
    /** The broker's reply code: 312 NO_ROUTE, 404 NOT_FOUND, 403 ACCESS_REFUSED, ... */
    readonly replyCode: number,
    /** The broker's reply text, e.g. `NO_ROUTE`. */
    readonly replyText: string,
    readonly exchange: string,
    readonly routingKey: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

function destination(exchange: string, routingKey: string): string {
  return exchange === ""
    ? `the default exchange with routing key "${routingKey}" (no queue of that name)`
    : `exchange "${exchange}" with routing key "${routingKey}"`;
}

/**
 * A mandatory publish the broker returned (basic.return): no queue matched. AMQP 0-9-1 §1.8.3.9;
 * RabbitMQ sends the return before the confirm of the same message
 * (https://www.rabbitmq.com/docs/confirms#server-sent-acks).
 */
export function unroutable(
  replyCode: number,
  replyText: string,
  exchange: string,
  routingKey: string,
): PublishRejectedError {
  return new PublishRejectedError(
    "WEIR_ERR_PUBLISH_UNROUTABLE",
    `the broker returned the message as unroutable (${replyCode} ${replyText}): no queue is bound to ` +
      `${destination(exchange, routingKey)}; nothing was stored`,
    replyCode,
    replyText,
    exchange,
    routingKey,
  );
}

/** A server channel close: the reply code and text amqplib puts on its error. */
export interface ChannelCloseError extends Error {
  readonly code?: unknown;
  readonly classId?: unknown;
  readonly methodId?: unknown;
}

/** basic.publish is method 40 of class 60 (AMQP 0-9-1). */
const BASIC_CLASS = 60;
const PUBLISH_METHOD = 40;

/**
 * The exchange a channel close blames, when the broker closed the channel in answer to a
 * basic.publish and names the exchange: `NOT_FOUND - no exchange 'x' in vhost '/'` (404),
 * `ACCESS_REFUSED - write access to exchange 'x' in vhost '/' refused for user 'u'` (403).
 */
export function blamedExchange(error: ChannelCloseError): string | undefined {
  if (error.classId !== BASIC_CLASS || error.methodId !== PUBLISH_METHOD) return undefined;
  if (error.code !== 404 && error.code !== 403) return undefined;
  return /exchange '(.*)' in vhost '/s.exec(error.message)?.[1];
}

/** The refusal of the publish a channel close blames (see `blamedExchange`). */
export function refusedBy(
  error: ChannelCloseError,
  exchange: string,
  routingKey: string,
): PublishRejectedError {
  const replyCode = typeof error.code === "number" ? error.code : 0;
  const replyText = /with message "(.*)"/s.exec(error.message)?.[1] ?? error.message;
  if (replyCode === 404) {
    return new PublishRejectedError(
      "WEIR_ERR_PUBLISH_NO_EXCHANGE",
      `the broker refused the publish (404 ${replyText}): exchange "${exchange}" does not exist; nothing was stored`,
      replyCode,
      replyText,
      exchange,
      routingKey,
      { cause: error },
    );
  }
  return new PublishRejectedError(
    "WEIR_ERR_PUBLISH_REFUSED",
    `the broker refused the publish (${replyCode} ${replyText}); nothing was stored`,
    replyCode,
    replyText,
    exchange,
    routingKey,
    { cause: error },
  );
}
