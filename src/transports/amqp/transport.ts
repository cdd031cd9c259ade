import { randomUUID } from "node:crypto";
import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { RouteTypes } from "../../core/constants.js";
import type { OnceStore } from "../../core/consume/once/store.js";
import { DeliveryPolicy } from "../../core/consume/policy.js";
import { type Deadline, withTimeout } from "../../core/deadline.js";
import { InvalidOptionError } from "../../core/errors.js";
import { noInstrumentation } from "../../core/instrumentation.js";
import { redactUrl } from "../../core/logger.js";
import type { StandardSchemaV1 } from "../../core/schema.js";
import type {
  DegradedHealth,
  PublicationDescription,
  RouteDescription,
  RouteRecord,
  Transport,
  TransportContext,
  TransportHealth,
} from "../../core/transport.js";
import { duration, knownKeys, positiveInteger } from "../../core/validate.js";
import { amqpAcknowledger } from "./acknowledger.js";
import { addAMQPChannels } from "./asyncapi.js";
import { urlVhost, VhostConnection, vhostUrl } from "./connection.js";
import { DEFAULT_CONSUMER_TIMEOUT_MS } from "./consumer-timeout.js";
import { describeAMQPRoute } from "./describe.js";
import { encodeHeaders } from "./field-table/encode.js";
import type { AMQPMessage } from "./message.js";
import type { AMQPOptions, ConnectFunction, ResolvedAMQPOptions } from "./options.js";
import type { AMQPChannel } from "./port.js";
import { PublishClosedError, PublishNotSentError } from "./publish-errors.js";
import { amqpTimestamp, checkPublishOptions, encodeBody, type PublishOptions } from "./publish-options.js";
import { Publisher } from "./publisher.js";
import { replyingHandler } from "./replies.js";
import { checkRequestOptions, type RequestOptions } from "./request-options.js";
import { Requester } from "./requester.js";
import {
  type DeadLetter,
  DeadLetterQueue,
  type ListDeadLettersOptions,
  type PurgeDeadLettersOptions,
  type ReplayOptions,
  type ReplayResult,
} from "./retry/dead-letters.js";
import { Forwarder, type RawPublish } from "./retry/forwarder.js";
import { deadLetterQueueOf, type ResolvedDeadLetter } from "./retry/options.js";
import { Declarer } from "./retry/topology.js";
import { RouteConsumer } from "./route-consumer.js";
import { type AMQPHandler, type AMQPRoute, normalizeAMQPRoute } from "./route-spec.js";
import { closeDeadline, stepWithin } from "./stop-steps.js";
import { taskNameOf } from "./task-names.js";
import { AMQPTaskCarrier } from "./tasks.js";
import { type AMQPPublisher, type PublisherOptions, TypedPublisher } from "./typed-publisher.js";

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** @internal The key of `AMQPTransport`'s internal seam (see `AMQPInternals`). */
export const amqpInternals: unique symbol = Symbol("weir.amqpInternals");

/** @internal What weir/testing and `app.task` need from the transport beyond `AMQPClient`. */
export interface AMQPInternals {
  /** The broker URL (the URLs of a list, comma-separated), passwords redacted. */
  readonly url: string;
  /** The vhost of routes and publishes that name none. */
  readonly defaultVhost: string;
  /** Replaces amqplib's `connect` (weir/testing's in-memory broker). Only before `start()`. */
  useConnect(connect: ConnectFunction): void;
  /** Runs `fn` on a new channel of the vhost's shared connection, then closes that channel. */
  withChannel<T>(vhost: string, fn: (channel: AMQPChannel) => Promise<T>): Promise<T>;
  /**
   * Replaces every route's handler, registered or to come, with `wrap(handler)` (weir/testing runs
   * each call in an async context, to tell which call caused what). Only before `start()`; nothing
   * else calls it, so production handlers are called as they are.
   */
  wrapHandlers(wrap: (handler: AMQPHandler) => AMQPHandler): void;
}

/** What `app.amqp` offers: publishing, and the dead-letter queues of routes. */
export interface AMQPClient {
  /**
   * Publishes `body` (objects as JSON, Buffers as they are) and resolves once the broker confirmed
   * it and, unless `mandatory: false`, routed it to at least one queue. Rejects with a
   * `PublishError` whose `code` says what happened and whose `sent` says whether the message may be
   * on the broker: `WEIR_ERR_PUBLISH_NOT_SENT` (no connection, a broker alarm or a full publish
   * buffer for the whole timeout; safe to publish again), `..._UNCONFIRMED` (sent, not confirmed:
   * may be stored), `..._UNROUTABLE` (returned: no queue matched), `..._NO_EXCHANGE` (404),
   * `..._REFUSED` (403), `..._NACK`, `..._CLOSED` (the app stopped). Rejects at once, with nothing
   * sent, with `WEIR_ERR_INVALID_OPTION` for an unknown or invalid option, with a `HeaderValueError`
   * (`WEIR_ERR_PUBLISH_HEADER`) for a header value that cannot travel unchanged, and with a
   * `ConnectionError` `WEIR_ERR_AUTH` when the broker refuses the credentials or the vhost (403 / 530).
   */
  publish(body: unknown, options?: PublishOptions): Promise<void>;
  /**
   * Sends `body` as a request and resolves with the reply, decoded as a delivery is (JSON for JSON
   * media types, else the bytes); `R` is the type the caller expects (not checked). Uses RabbitMQ's
   * direct reply-to (no reply queue to declare; https://www.rabbitmq.com/docs/direct-reply-to):
   * many requests share one channel, each matched to its reply by a fresh `correlationId`. The
   * serving side is a route with `reply: true` (or any consumer that publishes to `replyTo`).
   * Rejects with `WEIR_ERR_REQUEST_TIMEOUT` (no reply within `timeout`), `WEIR_ERR_PUBLISH_UNROUTABLE`
   * (no queue is bound for it: nothing was stored), `WEIR_ERR_REMOTE` (a `RemoteError`: the
   * serving handler failed), `WEIR_ERR_REQUEST_LOST` (the connection closed before the reply),
   * `WEIR_ERR_PUBLISH_CLOSED` (the app stopped); at once with `WEIR_ERR_INVALID_OPTION` or
   * `WEIR_ERR_PUBLISH_HEADER`.
   */
  request<R = unknown>(body: unknown, options: RequestOptions): Promise<R>;
  /**
   * The oldest dead letters of `queue` (from its route's dead-letter queue, default `<queue>.dlq`),
   * without consuming them. Rejects with `WEIR_ERR_DLQ_NOT_FOUND` when that queue does not exist.
   */
  listDeadLetters(queue: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]>;
  /**
   * Moves dead letters of `queue` back to `queue` (oldest first, up to `limit`, those `filter`
   * accepts) with their attempt count reset. Each is acked on the dead-letter queue only once the
   * broker confirmed its copy: a replay never loses a message.
   */
  replay(queue: string, options?: ReplayOptions): Promise<ReplayResult>;
  /** Deletes the dead letters of `queue`'s dead-letter queue; resolves with how many. */
  purgeDeadLetters(queue: string, options?: PurgeDeadLettersOptions): Promise<number>;
  /**
   * A typed publisher: `publish(body, overrides?)` sends to `options.exchange` / `routingKey` with
   * the options' defaults, the body typed as the `schema`'s input (else `T`, default `unknown`) and
   * validated before anything is sent. Opens nothing until its first publish. Publishers created
   * before `start()` are listed by `weir routes` and as `send` operations in the AsyncAPI document.
   * Throws `WEIR_ERR_INVALID_OPTION` for an unknown key or a bad value, `WEIR_ERR_PUBLISH_HEADER`
   * for a default header that cannot travel.
   */
  publisher<S extends StandardSchemaV1>(
    options: PublisherOptions & { schema: S },
  ): AMQPPublisher<StandardSchemaV1.InferInput<S>>;
  publisher<T = unknown>(options: PublisherOptions & { schema?: undefined }): AMQPPublisher<T>;
}

const AMQP_OPTION_KEYS = [
  "url",
  "hostSelection",
  "prefetch",
  "heartbeat",
  "noDelay",
  "reconnect",
  "onConnectionError",
  "publishTimeout",
  "publishBuffer",
  "consumerTimeout",
  "ackWindow",
];

/** Defaults of `amqp.publishBuffer`: room for bursts, a bound on memory during an alarm. */
const PUBLISH_BUFFER_MESSAGES = 10_000;
const PUBLISH_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * `amqp.url` (a URL or a list), else `WEIR_AMQP_URL` (comma-separated), else the default; each URL
 * checked, and all of them on one vhost (the URL path), which is the default vhost.
 */
function brokerUrls(option: AMQPOptions["url"]): string[] {
  let urls: string[];
  if (option === undefined) {
    const env = process.env.WEIR_AMQP_URL;
    urls =
      env === undefined || env.trim() === ""
        ? [DEFAULT_AMQP_URL]
        : env
            .split(",")
            .map((url) => url.trim())
            .filter((url) => url !== "");
  } else if (typeof option === "string") {
    urls = [option];
  } else if (Array.isArray(option) && option.length > 0) {
    urls = [...option];
  } else {
    throw new InvalidOptionError("amqp.url", "must be a URL or a non-empty list of URLs");
  }
  for (const url of urls) {
    if (typeof url !== "string") throw new InvalidOptionError("amqp.url", "every URL must be a string");
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new InvalidOptionError("amqp.url", `not a URL: ${redactUrl(url)}`);
    }
    if (protocol !== "amqp:" && protocol !== "amqps:") {
      throw new InvalidOptionError("amqp.url", `must start with amqp:// or amqps://, got ${redactUrl(url)}`);
    }
  }
  const vhost = urlVhost(urls[0]!);
  const other = urls.find((url) => urlVhost(url) !== vhost);
  if (other !== undefined) {
    throw new InvalidOptionError(
      "amqp.url",
      `every URL of the list must name the same vhost (its path): ${redactUrl(urls[0]!)} and ${redactUrl(other)} differ`,
    );
  }
  return urls;
}

function resolveOptions(options: AMQPOptions, context: TransportContext): ResolvedAMQPOptions {
  knownKeys("amqp", options, AMQP_OPTION_KEYS);
  knownKeys("amqp.reconnect", options.reconnect, ["floor", "ceiling", "maxAttempts"]);
  knownKeys("amqp.publishBuffer", options.publishBuffer, ["messages", "bytes"]);
  const urls = brokerUrls(options.url);
  const hostSelection = options.hostSelection ?? "random";
  if (hostSelection !== "random" && hostSelection !== "in-order") {
    throw new InvalidOptionError("amqp.hostSelection", 'must be "random" or "in-order"');
  }
  const heartbeat = options.heartbeat ?? 30;
  if (!Number.isInteger(heartbeat) || heartbeat < 0) {
    throw new InvalidOptionError("amqp.heartbeat", "must be a whole number of seconds >= 0");
  }
  const noDelay = options.noDelay ?? true;
  if (typeof noDelay !== "boolean") throw new InvalidOptionError("amqp.noDelay", "must be true or false");
  const floor = duration("amqp.reconnect.floor", options.reconnect?.floor, 100);
  const ceiling = duration("amqp.reconnect.ceiling", options.reconnect?.ceiling, 30_000);
  if (ceiling < floor) throw new InvalidOptionError("amqp.reconnect.ceiling", "must be >= floor");
  const maxAttempts = options.reconnect?.maxAttempts ?? Number.POSITIVE_INFINITY;
  if (maxAttempts !== Number.POSITIVE_INFINITY) positiveInteger("amqp.reconnect.maxAttempts", maxAttempts, 1);
  if (options.onConnectionError !== undefined && typeof options.onConnectionError !== "function") {
    throw new InvalidOptionError("amqp.onConnectionError", "must be a function");
  }
  return {
    url: urls[0]!,
    urls,
    hostSelection,
    prefetch: positiveInteger("amqp.prefetch", options.prefetch, 128),
    heartbeat,
    noDelay,
    reconnectFloor: floor,
    reconnectCeiling: ceiling,
    maxAttempts,
    onConnectionError: options.onConnectionError,
    publishTimeout: duration("amqp.publishTimeout", options.publishTimeout, 10_000),
    publishBuffer: {
      messages: positiveInteger(
        "amqp.publishBuffer.messages",
        options.publishBuffer?.messages,
        PUBLISH_BUFFER_MESSAGES,
      ),
      bytes: positiveInteger("amqp.publishBuffer.bytes", options.publishBuffer?.bytes, PUBLISH_BUFFER_BYTES),
    },
    consumerTimeout: duration("amqp.consumerTimeout", options.consumerTimeout, DEFAULT_CONSUMER_TIMEOUT_MS),
    ackWindow: options.ackWindow === false ? false : duration("amqp.ackWindow", options.ackWindow, 0, 0),
    logger: context.logger,
    appName: context.appName,
    instrumentation: context.instrumentation,
  };
}

/**
 * The RabbitMQ transport: per vhost, one connection shared by the routes (a channel per route) and
 * one for publishing (`app.amqp.publish`, tasks, retries, dead letters), opened at the first
 * publish. A broker alarm blocks only connections that publish, so consumers keep their speed
 * (https://www.rabbitmq.com/docs/alarms).
 */
export class AMQPTransport implements Transport, AMQPClient {
  readonly type = RouteTypes.AMQP;
  /** OpenTelemetry's `messaging.system` for RabbitMQ. */
  readonly system = "rabbitmq";
  readonly role = "consume";
  /** `app.amqp`: publishing and the dead-letter API. */
  readonly client: AMQPClient = this;
  /** `app.task(name, handler)`: tasks on RabbitMQ. */
  readonly tasks: AMQPTaskCarrier;
  /** Each registered route, normalized, for `describe` and the AsyncAPI document. */
  private readonly routes = new WeakMap<RouteRecord, AMQPRoute>();
  private readonly options: ResolvedAMQPOptions;
  private readonly defaultVhost: string;
  private readonly consumers: RouteConsumer[] = [];
  private readonly connections = new Map<string, VhostConnection>();
  private readonly publishConnections = new Map<string, VhostConnection>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly requesters = new Map<string, Requester>();
  private readonly declarers = new Map<string, Declarer>();
  /** Where each consumed queue's dead letters go, for the dead-letter API. */
  private readonly deadLetterRoutes = new Map<string, { vhost: string; deadLetter: ResolvedDeadLetter }>();
  private readonly onceStores = new Set<OnceStore>();
  private stopped = false;
  /** The deadline of the closes of the stop in progress (`closeDeadline`), set by `stop()`. */
  private closeBy: Deadline | undefined;
  /** Set by weir/testing only (`wrapHandlers`). */
  private wrapHandler: ((handler: AMQPHandler) => AMQPHandler) | undefined;
  /** Typed publishers created before start(), for `weir routes` and AsyncAPI (see `publisher`). */
  private readonly typedPublishers: TypedPublisher[] = [];
  private started = false;

  constructor(context: TransportContext, options: AMQPOptions = {}) {
    this.options = resolveOptions(options, context);
    this.defaultVhost = urlVhost(this.options.url);
    this.tasks = new AMQPTaskCarrier(this, (routes, spec, handler) => context.route(routes, spec, handler));
  }

  register(record: RouteRecord): void {
    const normalized = normalizeAMQPRoute(
      record,
      {
        prefetch: this.options.prefetch,
        vhost: this.defaultVhost,
        consumerTimeout: this.options.consumerTimeout,
        appName: this.options.appName,
      },
      this.options.logger,
    );
    this.routes.set(record, normalized);
    const serving =
      normalized.reply === undefined
        ? normalized
        : {
            ...normalized,
            handler: replyingHandler(
              normalized,
              normalized.reply,
              normalized.handler,
              (routingKey, content, properties) =>
                this.vhostPublisher(normalized.vhost).publish(
                  "",
                  routingKey,
                  content,
                  properties,
                  this.options.publishTimeout,
                ),
              this.options.logger.child({ transport: "amqp", route: normalized.name }),
            ),
          };
    const wrap = this.wrapHandler;
    const route = wrap === undefined ? serving : { ...serving, handler: wrap(serving.handler) };
    const settings = {
      route: route.name,
      transport: this.type,
      onSuccess: route.onSuccess,
      onException: route.onException,
      retry: route.retry,
      once: route.once,
      schema: route.schema,
      forwarding: undefined as Forwarder | undefined,
    };
    let policy: DeliveryPolicy<AMQPMessage> | undefined;
    if (DeliveryPolicy.needed(settings) || route.deadLetter !== undefined) {
      const logger = this.options.logger.child({ transport: "amqp", route: route.name });
      // Failures of a route with a policy go through the forwarder: to a delay queue, to the
      // dead-letter queue, or, with neither, rejected (told once, by the forwarder).
      settings.forwarding = new Forwarder(
        route,
        this.rawPublish(route.vhost),
        this.declarer(route.vhost),
        logger,
      );
      policy = new DeliveryPolicy<AMQPMessage>(
        settings,
        amqpAcknowledger,
        this.options.instrumentation,
        logger,
      );
      if (route.deadLetter !== undefined) {
        for (const queue of route.queues) {
          this.deadLetterRoutes.set(queue, { vhost: route.vhost, deadLetter: route.deadLetter });
        }
      }
      if (route.once !== undefined) this.onceStores.add(route.once.store);
    }
    this.consumers.push(new RouteConsumer(route, this.connection(route.vhost), this.options, policy));
  }

  /** Routes to consume, or a publisher to report on in `health()` (a typed one counts). */
  needed(): boolean {
    return (
      this.consumers.length > 0 ||
      this.publishers.size > 0 ||
      this.typedPublishers.length > 0 ||
      this.requesters.size > 0
    );
  }

  async start(): Promise<void> {
    this.started = true;
    await Promise.all(this.consumers.map((consumer) => consumer.start()));
  }

  async stop(deadline: Deadline): Promise<void> {
    // One deadline for every close of this stop, set when it begins: the grace past the drain's
    // deadline is granted once, not once per step.
    const closeBy = closeDeadline(deadline);
    this.closeBy = closeBy;
    await Promise.all(this.consumers.map((consumer) => consumer.stop(deadline, closeBy)));
  }

  /**
   * Closes the publish and topology channels, then the connections, each bounded by the stop's
   * close deadline: what the broker does not answer in time (a connection it blocks during a
   * resource alarm) is abandoned, logged with `WEIR_ERR_STOP_ABANDONED` and counted on the routes
   * of its vhost (`stopAbandoned`).
   */
  async close(deadline: Deadline): Promise<void> {
    this.stopped = true;
    const closeBy = this.closeBy ?? closeDeadline(deadline);
    const logger = this.options.logger.child({ transport: "amqp" });
    const step = async (vhost: string, closing: Promise<unknown>, what: string): Promise<void> => {
      if (!(await stepWithin(closeBy, closing, what, logger, { vhost }))) this.abandonedOn(vhost);
    };
    const closeConnection = async (vhost: string, connection: VhostConnection): Promise<void> => {
      if (!(await connection.close(closeBy))) this.abandonedOn(vhost);
    };
    // Channels first: amqplib interleaves frames of different channels, so closing the connection
    // before a channel's close-ok could lose that channel's last acks. Each connection waits only
    // for its own channels: during an alarm the broker blocks the publishing connection alone, and
    // its unanswered channel close must not use up the time the routes' connection needs to close.
    await Promise.all([
      (async () => {
        await Promise.all(
          [...this.declarers].map(([vhost, declarer]) =>
            step(vhost, declarer.close(), "topology channel close"),
          ),
        );
        await Promise.all(
          [...this.connections].map(([vhost, connection]) => closeConnection(vhost, connection)),
        );
      })(),
      (async () => {
        await Promise.all(
          [...this.requesters].map(([vhost, requester]) =>
            step(vhost, requester.close(), "request channel close"),
          ),
        );
        await Promise.all(
          [...this.publishers].map(([vhost, publisher]) =>
            step(vhost, publisher.close(deadline.remaining()), "publish channel close"),
          ),
        );
        await Promise.all(
          [...this.publishConnections].map(([vhost, connection]) => closeConnection(vhost, connection)),
        );
      })(),
    ]);
    await Promise.all(
      [...this.onceStores].map(async (store) => {
        const closing = (async () => {
          try {
            await store.close?.();
          } catch (error) {
            logger.warn({ err: error }, "once store failed to close");
          }
        })();
        await stepWithin(closeBy, closing, "once store close", logger);
      }),
    );
  }

  /** Counts an abandoned close of a vhost's shared channel or connection on each of its routes. */
  private abandonedOn(vhost: string): void {
    for (const consumer of this.consumers) if (consumer.route.vhost === vhost) consumer.stopAbandoned++;
  }

  describe(record: RouteRecord): RouteDescription {
    return describeAMQPRoute(this.routeOf(record), taskNameOf(record.handler));
  }

  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    const routes = records.map((record) => ({
      route: this.routeOf(record),
      task: taskNameOf(record.handler),
    }));
    const publishers = this.typedPublishers.map((publisher) => publisher.spec());
    addAMQPChannels(builder, redactUrl(this.options.url), this.defaultVhost, routes, publishers);
  }

  publisher<S extends StandardSchemaV1>(
    options: PublisherOptions & { schema: S },
  ): AMQPPublisher<StandardSchemaV1.InferInput<S>>;
  publisher<T = unknown>(options: PublisherOptions & { schema?: undefined }): AMQPPublisher<T>;
  publisher(options: PublisherOptions): AMQPPublisher<unknown> {
    const publisher = new TypedPublisher(this, options, this.defaultVhost, this.options.publishTimeout);
    // Only those made before start() are listed: one made per call in a handler must not pile up.
    if (!this.started) this.typedPublishers.push(publisher);
    return publisher;
  }

  publications(): readonly PublicationDescription[] {
    return this.typedPublishers.map((publisher) => publisher.describe());
  }

  private routeOf(record: RouteRecord): AMQPRoute {
    const route = this.routes.get(record);
    if (route === undefined) throw new Error("weir: describe() of a route this transport did not register");
    return route;
  }

  health(): TransportHealth {
    const routes = this.consumers.map((consumer) => consumer.health());
    const ready = routes.every((route) => route.ready);
    const degraded = this.blockedPublishing();
    const connections = [...this.connections.values(), ...this.publishConnections.values()].map(
      (connection) => ({
        role: connection.role,
        vhost: connection.vhost,
        connected: connection.current !== undefined,
        node: connection.node ?? null,
        reconnects: connection.reconnects,
      }),
    );
    return {
      transport: this.type,
      ready,
      routes,
      ...(connections.length > 0 && { connections }),
      ...(degraded.length > 0 && { degraded }),
    };
  }

  /**
   * Publishing connections the broker blocks (an alarm): reported, not a reason to be unready.
   * The alarm is the broker's, so every replica would turn unready at once, and consumers (on their
   * own connection) keep working; publishes say it themselves, with `WEIR_ERR_PUBLISH_NOT_SENT`.
   */
  private blockedPublishing(): DegradedHealth[] {
    const degraded: DegradedHealth[] = [];
    for (const [vhost, connection] of this.publishConnections) {
      const blocked = connection.blocked;
      if (blocked === undefined) continue;
      degraded.push({
        component: "publisher",
        vhost,
        code: "WEIR_ERR_PUBLISH_BLOCKED",
        reason: `the broker blocks publishing on vhost "${vhost}" (${blocked.reason}): publishes wait, then fail with WEIR_ERR_PUBLISH_NOT_SENT`,
        since: new Date(blocked.since).toISOString(),
        ...this.publishers.get(vhost)?.stats(),
      });
    }
    return degraded;
  }

  publish(body: unknown, options: PublishOptions = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new PublishClosedError());
    try {
      checkPublishOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    let headers: Record<string, unknown> | undefined;
    try {
      // Refused here, before anything is sent: a value that cannot arrive as it was given.
      headers = encodeHeaders(options.headers);
    } catch (error) {
      return Promise.reject(error);
    }
    const publisher = this.vhostPublisher(options.vhost ?? this.defaultVhost);
    const { content, contentType } = encodeBody(body, options.contentType);
    const exchange = options.exchange ?? "";
    const routingKey = options.routingKey ?? "";
    const instrumentation = this.options.instrumentation;
    if (instrumentation === noInstrumentation) {
      return this.send(publisher, exchange, routingKey, content, contentType, options, headers);
    }
    return instrumentation.runPublish(
      { transport: "amqp", destination: exchange || routingKey },
      (traceHeaders) =>
        this.send(publisher, exchange, routingKey, content, contentType, options, {
          ...headers,
          ...traceHeaders,
        }),
    );
  }

  request<R = unknown>(body: unknown, options: RequestOptions): Promise<R> {
    if (this.stopped) return Promise.reject(new PublishClosedError());
    let headers: Record<string, unknown> | undefined;
    try {
      checkRequestOptions(options);
      headers = encodeHeaders(options.headers);
    } catch (error) {
      return Promise.reject(error);
    }
    const vhost = options.vhost ?? this.defaultVhost;
    let requester = this.requesters.get(vhost);
    if (requester === undefined) {
      requester = new Requester(
        this.publishConnection(vhost),
        this.options.logger.child({ transport: "amqp", vhost, connection: "publish" }),
      );
      this.requesters.set(vhost, requester);
    }
    const { content, contentType } = encodeBody(body, options.contentType);
    const exchange = options.exchange ?? "";
    const timeout = options.timeout ?? this.options.publishTimeout;
    const properties = (traceHeaders: Record<string, unknown> | undefined) => ({
      persistent: false,
      contentType,
      headers: traceHeaders === undefined ? headers : { ...headers, ...traceHeaders },
      messageId: options.messageId ?? randomUUID(),
      priority: options.priority,
      // A request nobody took within its timeout is one nobody waits for any more.
      expiration: String(Math.ceil(timeout)),
      timestamp: amqpTimestamp(undefined),
    });
    const target = requester;
    const instrumentation = this.options.instrumentation;
    const sent =
      instrumentation === noInstrumentation
        ? target.request(exchange, options.routingKey, content, properties(undefined), timeout)
        : instrumentation.runPublish(
            { transport: "amqp", destination: exchange || options.routingKey },
            (traceHeaders) =>
              target.request(exchange, options.routingKey, content, properties(traceHeaders), timeout),
          );
    return sent as Promise<R>;
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
        mandatory: options.mandatory ?? true,
        contentType,
        headers,
        // Generated when not given, so a route's `once` dedups every message weir publishes.
        messageId: options.messageId ?? randomUUID(),
        correlationId: options.correlationId,
        expiration: options.expiration,
        priority: options.priority,
        timestamp: amqpTimestamp(options.timestamp),
      },
      options.timeout ?? this.options.publishTimeout,
    );
  }

  /**
   * @internal The seam weir/testing and `app.task` use; not public API (a symbol key keeps it out of
   * `app.amqp`'s type and autocompletion).
   */
  [amqpInternals](): AMQPInternals {
    return {
      url: this.options.urls.map(redactUrl).join(", "),
      defaultVhost: this.defaultVhost,
      useConnect: (connect) => {
        this.options.connect = connect;
      },
      withChannel: (vhost, fn) => this.withChannel(vhost, fn),
      wrapHandlers: (wrap) => {
        this.wrapHandler = wrap;
        // Routes already registered wrap theirs now; those to come, in register().
        for (const consumer of this.consumers) consumer.wrapHandler(wrap);
      },
    };
  }

  private async withChannel<T>(vhost: string, fn: (channel: AMQPChannel) => Promise<T>): Promise<T> {
    if (this.stopped) throw new PublishClosedError();
    // Bounded like a publish: the callers are producers, which must not hang through an outage.
    const model = await withTimeout(
      this.connection(vhost).connect(),
      this.options.publishTimeout,
      () =>
        new PublishNotSentError(
          "no-connection",
          `no connection to the broker within the publish timeout (${this.options.publishTimeout} ms); nothing was sent`,
        ),
    );
    const channel = await model.createChannel();
    // A refused declare closes the channel with an 'error' event, which must not crash the process.
    channel.on("error", () => {});
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  listDeadLetters(queue: string, options: ListDeadLettersOptions = {}): Promise<DeadLetter[]> {
    return this.deadLetterQueue(queue, options, "listDeadLetters", ["limit", "vhost"]).then((dlq) =>
      dlq.list(options),
    );
  }

  replay(queue: string, options: ReplayOptions = {}): Promise<ReplayResult> {
    return this.deadLetterQueue(queue, options, "replay", ["limit", "filter", "vhost"]).then((dlq) =>
      dlq.replay(options),
    );
  }

  purgeDeadLetters(queue: string, options: PurgeDeadLettersOptions = {}): Promise<number> {
    return this.deadLetterQueue(queue, options, "purgeDeadLetters", ["vhost"]).then((dlq) => dlq.purge());
  }

  private async deadLetterQueue(
    queue: string,
    options: { vhost?: string },
    method: string,
    keys: readonly string[],
  ): Promise<DeadLetterQueue> {
    if (typeof queue !== "string" || queue.length === 0) {
      throw new InvalidOptionError("queue", "must be the name of a queue");
    }
    knownKeys(method, options, keys);
    const vhost = options.vhost;
    if (this.stopped) throw new PublishClosedError();
    const route = this.deadLetterRoutes.get(queue);
    const where = vhost ?? route?.vhost ?? this.defaultVhost;
    return new DeadLetterQueue(
      this.connection(where),
      this.rawPublish(where),
      deadLetterQueueOf(queue, route?.deadLetter),
      queue,
    );
  }

  private vhostPublisher(vhost: string): Publisher {
    let publisher = this.publishers.get(vhost);
    if (publisher === undefined) {
      publisher = new Publisher(
        this.publishConnection(vhost),
        this.options.logger.child({ transport: "amqp", vhost, connection: "publish" }),
        this.options.publishBuffer,
      );
      this.publishers.set(vhost, publisher);
    }
    return publisher;
  }

  /**
   * Confirmed, mandatory publishes on `vhost` through its Publisher: retries, dead letters, replays.
   * An unroutable one rejects with `WEIR_ERR_PUBLISH_UNROUTABLE` like any publish. Their headers go
   * through the same encoder as `publish` (those of a received message as `headersToRepublish`
   * gives them: each value with the AMQP type it came with).
   */
  private rawPublish(vhost: string): RawPublish {
    return (exchange, routingKey, content, properties) => {
      let headers: Record<string, unknown> | undefined;
      try {
        headers = encodeHeaders(properties.headers);
      } catch (error) {
        return Promise.reject(error);
      }
      return this.vhostPublisher(vhost).publish(
        exchange,
        routingKey,
        content,
        { ...properties, headers, mandatory: properties.mandatory ?? true },
        this.options.publishTimeout,
      );
    };
  }

  private declarer(vhost: string): Declarer {
    let declarer = this.declarers.get(vhost);
    if (declarer === undefined) {
      declarer = new Declarer(
        this.connection(vhost),
        this.options.logger.child({ transport: "amqp", vhost }),
        this.options.publishTimeout,
      );
      this.declarers.set(vhost, declarer);
    }
    return declarer;
  }

  /** Every broker URL, pointed at `vhost`. */
  private vhostUrls(vhost: string): string[] {
    return this.options.urls.map((url) => vhostUrl(url, vhost));
  }

  /** The routes' connection to `vhost` (also used to declare and to read dead letters). */
  private connection(vhost: string): VhostConnection {
    let connection = this.connections.get(vhost);
    if (connection === undefined) {
      connection = new VhostConnection(vhost, this.vhostUrls(vhost), this.options);
      this.connections.set(vhost, connection);
    }
    return connection;
  }

  /** The publisher's connection to `vhost`: never the routes', so an alarm leaves consumers alone. */
  private publishConnection(vhost: string): VhostConnection {
    let connection = this.publishConnections.get(vhost);
    if (connection === undefined) {
      connection = new VhostConnection(vhost, this.vhostUrls(vhost), this.options, "publish");
      this.publishConnections.set(vhost, connection);
    }
    return connection;
  }
}
