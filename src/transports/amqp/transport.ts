import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { InvalidOptionError, PublishError } from "../../core/errors.js";
import { noInstrumentation } from "../../core/instrumentation.js";
import { redactUrl } from "../../core/logger.js";
import type { RouteRecord, Transport, TransportContext, TransportHealth } from "../../core/transport.js";
import { duration, positiveInteger } from "../../core/validate.js";
import { urlVhost, VhostConnection, vhostUrl } from "./connection.js";
import type { AMQPOptions, ResolvedAMQPOptions } from "./options.js";
import { encodeBody, Publisher, type PublishOptions } from "./publisher.js";
import { RouteConsumer } from "./route-consumer.js";
import { normalizeAMQPRoute } from "./route-spec.js";

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** What `app.amqp` offers: publishing (and, in later versions, dead-letter management). */
export interface AMQPClient {
  /**
   * Publishes `body` (objects as JSON, Buffers as they are) and resolves once the broker confirms
   * it. Rejects with a `PublishError` (`WEIR_ERR_PUBLISH_*`) on a nack, a timeout or a closed app.
   */
  publish(body: unknown, options?: PublishOptions): Promise<void>;
}

function resolveOptions(options: AMQPOptions, context: TransportContext): ResolvedAMQPOptions {
  const url = options.url ?? process.env.WEIR_AMQP_URL ?? DEFAULT_AMQP_URL;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new InvalidOptionError("amqp.url", `not a URL: ${redactUrl(url)}`);
  }
  if (protocol !== "amqp:" && protocol !== "amqps:") {
    throw new InvalidOptionError("amqp.url", `must start with amqp:// or amqps://, got ${redactUrl(url)}`);
  }
  const heartbeat = options.heartbeat ?? 30;
  if (!Number.isInteger(heartbeat) || heartbeat < 0) {
    throw new InvalidOptionError("amqp.heartbeat", "must be a whole number of seconds >= 0");
  }
  const floor = duration("amqp.reconnect.floor", options.reconnect?.floor, 100);
  const ceiling = duration("amqp.reconnect.ceiling", options.reconnect?.ceiling, 30_000);
  if (ceiling < floor) throw new InvalidOptionError("amqp.reconnect.ceiling", "must be >= floor");
  const maxAttempts = options.reconnect?.maxAttempts ?? Number.POSITIVE_INFINITY;
  if (maxAttempts !== Number.POSITIVE_INFINITY) positiveInteger("amqp.reconnect.maxAttempts", maxAttempts, 1);
  if (options.onConnectionError !== undefined && typeof options.onConnectionError !== "function") {
    throw new InvalidOptionError("amqp.onConnectionError", "must be a function");
  }
  return {
    url,
    prefetch: positiveInteger("amqp.prefetch", options.prefetch, 128),
    heartbeat,
    reconnectFloor: floor,
    reconnectCeiling: ceiling,
    maxAttempts,
    onConnectionError: options.onConnectionError,
    publishTimeout: duration("amqp.publishTimeout", options.publishTimeout, 10_000),
    logger: context.logger,
    appName: context.appName,
    instrumentation: context.instrumentation,
  };
}

/**
 * The RabbitMQ transport: one connection per vhost shared by the routes and the publisher on it,
 * one channel per route.
 */
export class AMQPTransport implements Transport, AMQPClient {
  readonly type = RouteTypes.AMQP;
  private readonly options: ResolvedAMQPOptions;
  private readonly defaultVhost: string;
  private readonly consumers: RouteConsumer[] = [];
  private readonly connections = new Map<string, VhostConnection>();
  private readonly publishers = new Map<string, Publisher>();
  private stopped = false;

  constructor(context: TransportContext, options: AMQPOptions = {}) {
    this.options = resolveOptions(options, context);
    this.defaultVhost = urlVhost(this.options.url);
  }

  register(record: RouteRecord): void {
    const route = normalizeAMQPRoute(
      record,
      { prefetch: this.options.prefetch, vhost: this.defaultVhost },
      this.options.logger,
    );
    this.consumers.push(new RouteConsumer(route, this.connection(route.vhost), this.options));
  }

  needed(): boolean {
    return this.consumers.length > 0;
  }

  async start(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.start()));
  }

  async stop(deadline: Deadline): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop(deadline)));
  }

  async close(deadline: Deadline): Promise<void> {
    this.stopped = true;
    // Channels first: amqplib interleaves frames of different channels, so closing the connection
    // before a channel's close-ok could lose that channel's last acks.
    await Promise.all(
      [...this.publishers.values()].map((publisher) => publisher.close(deadline.remaining())),
    );
    await Promise.all([...this.connections.values()].map((connection) => connection.close()));
  }

  health(): TransportHealth {
    const routes = this.consumers.map((consumer) => consumer.health());
    return { transport: this.type, ready: routes.every((route) => route.ready), routes };
  }

  publish(body: unknown, options: PublishOptions = {}): Promise<void> {
    if (this.stopped) {
      return Promise.reject(
        new PublishError("WEIR_ERR_PUBLISH_CLOSED", "cannot publish: the app is stopped"),
      );
    }
    const vhost = options.vhost ?? this.defaultVhost;
    let publisher = this.publishers.get(vhost);
    if (publisher === undefined) {
      publisher = new Publisher(
        this.connection(vhost),
        this.options.logger.child({ transport: "amqp", vhost }),
      );
      this.publishers.set(vhost, publisher);
    }
    const { content, contentType } = encodeBody(body, options.contentType);
    const exchange = options.exchange ?? "";
    const routingKey = options.routingKey ?? "";
    const instrumentation = this.options.instrumentation;
    if (instrumentation === noInstrumentation) {
      return this.send(publisher, exchange, routingKey, content, contentType, options, options.headers);
    }
    return instrumentation.runPublish(
      { transport: "amqp", destination: exchange || routingKey },
      (traceHeaders) =>
        this.send(publisher, exchange, routingKey, content, contentType, options, {
          ...options.headers,
          ...traceHeaders,
        }),
    );
  }

  private send(
    publisher: Publisher,
    exchange: string,
    routingKey: string,
    content: Buffer,
    contentType: string,
    options: PublishOptions,
    headers: Record<string, unknown> | undefined,
  ): Promise<void> {
    return publisher.publish(
      exchange,
      routingKey,
      content,
      {
        persistent: options.persistent ?? true,
        contentType,
        headers,
        messageId: options.messageId,
        correlationId: options.correlationId,
        expiration: options.expiration,
        priority: options.priority,
      },
      options.timeout ?? this.options.publishTimeout,
    );
  }

  private connection(vhost: string): VhostConnection {
    let connection = this.connections.get(vhost);
    if (connection === undefined) {
      connection = new VhostConnection(vhost, vhostUrl(this.options.url, vhost), this.options);
      this.connections.set(vhost, connection);
    }
    return connection;
  }
}
