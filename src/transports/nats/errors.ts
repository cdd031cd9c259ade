import { ConnectionError, PublishError, StartError } from "../../core/errors.js";

/**
 * `WEIR_ERR_NATS_CONNECT`: no NATS server answered within `nats.connectTimeout` at start (or at the
 * first publish). Once connected, weir reconnects on its own and never throws this again.
 */
export class NATSConnectError extends ConnectionError {
  constructor(servers: readonly string[], options?: { cause?: unknown }) {
    super("WEIR_ERR_NATS_CONNECT", `could not connect to NATS at ${servers.join(", ")}`, options);
  }
}

/**
 * `WEIR_ERR_NATS_STREAM_NOT_FOUND`: a route's stream does not exist and the route does not declare
 * it. Create it (`nats stream add`), or give the route `declare: true` (or `subjects`) so weir
 * creates it.
 */
export class NATSStreamNotFoundError extends StartError {
  constructor(readonly stream: string) {
    super(
      "WEIR_ERR_NATS_STREAM_NOT_FOUND",
      `the JetStream stream "${stream}" does not exist: create it, or give the route declare: true so weir creates it (with the subjects ${stream} and ${stream}.>, or the route's subjects)`,
    );
  }
}

/**
 * `WEIR_ERR_NATS_STREAM_CREATE`: at `start()`, a route declares a stream that does not exist and
 * JetStream refused to create it. Most often its subjects overlap another stream's (JetStream lets
 * one stream capture a subject, nats-server's "subjects overlap with an existing stream"): give the
 * route other `subjects`, or route it to the stream that captures them. `subjects` and the server's
 * reason are on the error.
 */
export class NATSStreamCreateError extends StartError {
  constructor(
    readonly stream: string,
    readonly subjects: readonly string[],
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    const overlap = /overlap/i.test(reason)
      ? ": another stream already captures one of these subjects; give the route other subjects, or read that stream instead"
      : "";
    super(
      "WEIR_ERR_NATS_STREAM_CREATE",
      `could not create the JetStream stream "${stream}" with the subjects ${subjects.join(", ")} (declare): ${reason}${overlap}`,
      options,
    );
  }
}

/**
 * `WEIR_ERR_NATS_CONSUMER`: JetStream refused to create or read a route's stream or durable consumer
 * at start (a name or config it refuses, JetStream off, no permission).
 */
export class NATSConsumerError extends StartError {
  constructor(stream: string, consumer: string, options?: { cause?: unknown }) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(
      "WEIR_ERR_NATS_CONSUMER",
      `could not set up the consumer "${consumer}" of stream "${stream}"${reason}`,
      options,
    );
  }
}

/**
 * `WEIR_ERR_NATS_NO_STREAM`: no JetStream stream captures the subject (the server had no responder
 * for it), or JetStream is off. Nothing was stored: safe to publish again once a stream captures it.
 */
export class NATSNoStreamError extends PublishError {
  override readonly sent = false;
  constructor(
    readonly subject: string,
    options?: { cause?: unknown },
  ) {
    super(
      "WEIR_ERR_NATS_NO_STREAM",
      `no JetStream stream captures the subject "${subject}": nothing was stored. Create a stream that captures it, or publish after start() of an app whose route declares one (declare: true creates it at start)`,
      options,
    );
  }
}

/**
 * `WEIR_ERR_NATS_PUBLISH_TIMEOUT`: the stream's ack did not come within the timeout (`nats.timeout`
 * or the publish's `timeout`). The stream may have stored it: publish again with the same `messageId`
 * and JetStream drops the duplicate within its duplicate window.
 */
export class NATSPublishTimeoutError extends PublishError {
  override readonly sent = true;
  constructor(
    readonly subject: string,
    timeout: number,
    options?: { cause?: unknown },
  ) {
    super(
      "WEIR_ERR_NATS_PUBLISH_TIMEOUT",
      `no JetStream ack for a publish to "${subject}" within ${timeout} ms`,
      options,
    );
  }
}

/**
 * `WEIR_ERR_NATS_PUBLISH`: JetStream refused the publish (an expectation that failed, a stream
 * limit, a closed connection). `cause` holds the client's error.
 */
export class NATSPublishError extends PublishError {
  constructor(
    readonly subject: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super("WEIR_ERR_NATS_PUBLISH", `the publish to "${subject}" failed${reason}`, options);
  }
}
