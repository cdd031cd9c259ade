import { ConfigurationError, StartError, type WeirError } from "../../core/errors.js";
import { TestClientError } from "../../testing/errors.js";

/**
 * The errors of consuming: a queue type a route cannot consume, a consume the broker answered by
 * closing the shared connection.
 */

/** The text the broker gave with a close, without amqplib's wrapping (`... with message "<text>"`). */
export function brokerReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /with message "(.*)"\s*$/s.exec(message)?.[1] ?? message;
}

/**
 * A route without `stream` over a RabbitMQ stream queue. Streams cannot take a reject or a requeue (the broker
 * answers `basic.reject` / `basic.nack` by closing the whole connection, 540), and every AMQP route
 * may send them (onException, invalid bodies, the shutdown's requeue). Refused at registration when
 * the route declares the queue as a stream; else found at its first delivery (the route then stops
 * consuming and reports not ready with this error, and no other route is touched).
 */
export class StreamQueueError extends ConfigurationError {
  readonly queue: string | undefined;

  constructor(where: string, queue?: string) {
    super(
      "WEIR_ERR_STREAM_QUEUE",
      `${queue === undefined ? where : `queue "${queue}"`} is a stream queue: a route without \`stream\` cannot consume it ` +
        "(a stream refuses the rejects and requeues such a route may send, by closing the connection); " +
        'give the route stream: { offset: "first" } (docs/amqp.md, Streams), or consume a classic or quorum queue bound to the same exchange',
    );
    this.queue = queue;
  }
}

/**
 * The broker closed the vhost's whole connection (a connection-level error, 5xx) in answer to a
 * route's consume: `route` and `queue` name the route whose operation it was, the message carries
 * the broker's reason. The other routes of the vhost re-attach once the connection is back.
 */
export class ConsumeClosedConnectionError extends StartError {
  readonly route: string;
  readonly queue: string;

  constructor(route: string, queue: string, vhost: string, cause: unknown) {
    super(
      "WEIR_ERR_CONSUME_CLOSED_CONNECTION",
      `route "${route}": the broker closed the connection to vhost "${vhost}" while attaching queue "${queue}": ${brokerReason(cause)}`,
      { cause },
    );
    this.route = route;
    this.queue = queue;
  }
}

/**
 * Turns a broker refusal while attaching into an error that says what to do about it, with the
 * broker's own reason (a 406 on a declare is an argument the broker refuses, not only a mismatch).
 * A `TestClientError` (the in-memory broker's `WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT`) is kept as it is.
 */
export function attachError(error: unknown, queue: string, vhost: string): StartError | WeirError {
  // weir/testing's in-memory broker refusing what it cannot emulate: its own code says so best.
  if (error instanceof StartError || error instanceof TestClientError) return error;
  const code = (error as { code?: unknown }).code;
  const reason = brokerReason(error);
  if (code === 404) {
    return new StartError(
      "WEIR_ERR_QUEUE_NOT_FOUND",
      `queue "${queue}" does not exist in vhost "${vhost}"; create it, or set declare: true on the route`,
      { cause: error },
    );
  }
  if (code === 406) {
    return new StartError(
      "WEIR_ERR_QUEUE_DECLARE",
      `the broker refused queue "${queue}" as the route declares it (it exists with other arguments, or an argument is not allowed for its type): ${reason}`,
      { cause: error },
    );
  }
  if (code === 403) {
    return new StartError("WEIR_ERR_ACCESS_REFUSED", `access to queue "${queue}" was refused: ${reason}`, {
      cause: error,
    });
  }
  return new StartError("WEIR_ERR_ATTACH", `could not consume queue "${queue}": ${reason}`, {
    cause: error,
  });
}

/** What a route declares that the broker refused: an exchange, a queue or a binding. */
export interface TopologyObject {
  readonly kind: "exchange" | "queue" | "binding";
  /** The exchange's or queue's name; a binding's as `queue -> exchange (key)`. */
  readonly name: string;
  /** The arguments the route declares it with (flags and `arguments`). */
  readonly declared: Readonly<Record<string, unknown>>;
}

/**
 * The one argument RabbitMQ names in a 406 "inequivalent arg" refusal, with the value the route sent
 * and the one the existing object has (`none`: it has no such argument). The broker tells one
 * difference per refusal, the first it found; the other arguments of the existing object are not
 * told without the management API.
 */
export function inequivalentArgument(
  reason: string,
): { argument: string; received: string; current: string } | undefined {
  const found = /inequivalent arg '([^']+)'.*?received (.+?) but current is (.+?)\s*$/s.exec(reason);
  if (found === null) {
    const bare = /inequivalent arg '([^']+)'/.exec(reason);
    return bare === null ? undefined : { argument: bare[1]!, received: "?", current: "?" };
  }
  return { argument: found[1]!, received: found[2]!, current: found[3]! };
}

const TOPOLOGY_CODES = {
  exchange: "WEIR_ERR_EXCHANGE_DECLARE",
  queue: "WEIR_ERR_QUEUE_DECLARE",
  binding: "WEIR_ERR_BIND",
} as const;

/**
 * The broker refused an object of a route's topology at attach: an exchange or queue that exists with
 * other arguments (406 PRECONDITION_FAILED), a binding to a missing exchange (404), a reserved name
 * (403). `object` says which and what the route declared; `existing` what the broker says the object
 * has (the differing argument only, when the broker named one). The refusal closes only the route's
 * own channel: the vhost's other routes keep consuming.
 */
export class TopologyError extends StartError {
  readonly object: TopologyObject;
  readonly existing: Readonly<Record<string, string>> | undefined;

  constructor(route: string, vhost: string, object: TopologyObject, cause: unknown) {
    const reason = brokerReason(cause);
    const differs = inequivalentArgument(reason);
    const existing = differs === undefined ? undefined : { [differs.argument]: differs.current };
    const what =
      differs !== undefined
        ? `it exists with other arguments: "${differs.argument}" is ${differs.current} on the broker, the route declares ${differs.received}`
        : reason;
    // An argument is fixed when the object is created: the route must match it, or the object go.
    const todo =
      differs === undefined || object.kind === "binding"
        ? ""
        : ` To fix: declare it as it is (${JSON.stringify(differs.argument)}: ${differs.current}), or delete the ${object.kind} (its ${object.kind === "queue" ? "messages go with it" : "bindings go with it"}) so that the route creates it anew.`;
    super(
      TOPOLOGY_CODES[object.kind],
      `route "${route}": the broker refused ${object.kind} "${object.name}" in vhost "${vhost}": ${what}. ` +
        `The route declares ${JSON.stringify(object.declared)}; existing: ${existing === undefined ? "unknown" : JSON.stringify(existing)}.${todo} ` +
        `Broker: ${reason}`,
      { cause },
    );
    this.object = object;
    this.existing = existing;
  }
}
