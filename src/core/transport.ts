import type { FastifyInstance } from "fastify";
import type { AppHealth } from "./application.js";
import type { AsyncAPIBuilder } from "./asyncapi-builder.js";
import type { Delivery } from "./consume/delivery.js";
import type { Deadline } from "./deadline.js";
import type { HandlerContext } from "./handler-call.js";
import type { Instrumentation } from "./instrumentation.js";
import type { Logger } from "./logger.js";

/**
 * The contract between the App and a source of work. It lives in core because core is the side
 * that calls it (core never imports a transport); each transport folder implements it.
 */

/** A route as the App records it, before a transport has validated and normalized it. */
export interface RouteRecord {
  /** Queue names, HTTP paths or SSE paths. */
  readonly routes: readonly string[];
  /** The route definition as the user wrote it (`type` included). */
  readonly spec: { readonly type: string };
  // biome-ignore lint/complexity/noBannedTypes: each transport narrows this to its handler type.
  readonly handler: Function;
}

export interface RouteHealth {
  /** A name for the route: its queues, path or stream. */
  readonly name: string;
  readonly ready: boolean;
  /** Transport-specific facts: connected, consuming, last delivery, reconnects, ... */
  readonly [detail: string]: unknown;
}

/**
 * Something of a transport that works below par without making it unready: the AMQP publisher while
 * the broker blocks it (a memory or disk alarm). `/ready` lists it beside its answer.
 */
export interface DegradedHealth {
  /** What is degraded, e.g. `publisher`. */
  readonly component: string;
  /** A stable code for the condition, e.g. `WEIR_ERR_PUBLISH_BLOCKED`. */
  readonly code: string;
  /** What is going on and what it means for the app, in words. */
  readonly reason: string;
  /** Since when (ISO 8601). */
  readonly since: string;
  /** Transport-specific facts (the vhost, what is held, ...). */
  readonly [detail: string]: unknown;
}

/**
 * One connection a transport holds to its broker, as health reports it: on a cluster, which node
 * each connection is on (AMQP: one per vhost for the routes, one per vhost for publishing).
 */
export interface ConnectionHealth {
  /** What the connection is for, e.g. `consume`, `publish`. */
  readonly role: string;
  readonly connected: boolean;
  /** The server it is on, `host:port` (never credentials); null while not connected. */
  readonly node: string | null;
  /** Transport-specific facts (the vhost, reconnects, ...). */
  readonly [detail: string]: unknown;
}

export interface TransportHealth {
  readonly transport: string;
  readonly ready: boolean;
  readonly routes: readonly RouteHealth[];
  /** The transport's broker connections and the node each is on, when it has any. */
  readonly connections?: readonly ConnectionHealth[];
  /** Present while something works below par without making the transport unready. */
  readonly degraded?: readonly DegradedHealth[];
}

/** A JSON value: what a route's description may hold, so `weir routes --json` can print it. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/**
 * One route as `weir routes` shows it: every option with its default applied, so the table tells
 * what will run, not only what was written.
 */
export interface RouteDescription {
  /** The route type (`"amqp"`, `"sse"`, `"http"`, or a plugin's). */
  readonly type: string;
  /** Queue names, paths or streams. */
  readonly routes: readonly string[];
  /** The task's name when the route is a task's (`app.task`). */
  readonly task?: string;
  /** Options, defaults applied; `undefined` entries are left out of the table. */
  readonly details: Readonly<Record<string, JSONValue | undefined>>;
}

/**
 * Something the app sends through a transport to a destination it declared up front (an AMQP typed
 * publisher, `app.amqp.publisher(...)`): a row of `weir routes` and a `send` operation of the
 * AsyncAPI document. Pure data, so `weir routes --json` can print it.
 */
export interface PublicationDescription {
  /** The transport's type (`"amqp"`, or a plugin's). */
  readonly type: string;
  /** The publication's name: given by the user, else derived from its destination. */
  readonly name: string;
  /** Where it sends, as the transport writes it (AMQP: `exchange:routingKey`, `(default):queue`). */
  readonly destination: string;
  /** Its publish defaults, defaults applied; `undefined` entries are left out of the table. */
  readonly details: Readonly<Record<string, JSONValue | undefined>>;
}

/**
 * What a transport does with work: `consume` reads messages from a source and settles them (its
 * routes get handler and settlement metrics); `serve` answers requests (HTTP).
 */
export type TransportRole = "consume" | "serve";

/**
 * Where weir's own endpoints (`/health`, `/ready`, `/metrics`) are served: a transport of role
 * `serve` that owns an HTTP server offers it.
 */
export interface EndpointHost {
  /** The fastify instance the endpoints and request hooks are added to. */
  readonly server: FastifyInstance;
  /**
   * Runs `listener` with the server once it exists (at once if it does), before any route is added
   * to it: how observability installs its request hooks without creating a server (and loading
   * fastify) that nothing else needs. A host that creates its server eagerly may leave it out; then
   * `server` is read at once.
   */
  whenServer?(listener: (server: FastifyInstance) => void): void;
  /**
   * Claims `path` for one of weir's endpoints: the server starts for it, and a user route on it
   * fails at registration with a coded error naming `option`.
   */
  reserve(path: string, owner: string, option: string): void;
}

export interface Transport {
  /** The route type this transport serves (`"amqp"`, `"http"`, `"sse"`). */
  readonly type: string;
  /**
   * The messaging system, as OpenTelemetry's semantic conventions name it (`messaging.system`:
   * `"rabbitmq"`, `"aws_sqs"`, `"nats"`, ...); for a serving transport, its protocol.
   */
  readonly system: string;
  /** Whether its routes consume messages or serve requests. */
  readonly role: TransportRole;
  /**
   * What the app offers users for this transport as `app.<type>` (`app.amqp`: publish and dead
   * letters; `app.http`: the fastify server). `undefined`: no such member.
   */
  readonly client?: object;
  /** Where weir's own endpoints are served, for a transport that owns an HTTP server. */
  readonly endpoints?: EndpointHost;
  /** Validates and keeps a route. Throws a `ConfigurationError` for anything it cannot run. */
  register(route: RouteRecord): void;
  /** Whether `start()` has anything to do (an app without HTTP routes opens no port). */
  needed(): boolean;
  /** Attaches every route; resolves once all of them receive work. */
  start(): Promise<void>;
  /**
   * Stops intake, hands every received message to its handler within the deadline and settles
   * every message. Must resolve (never hang) shortly after the deadline. Called on every transport,
   * started or not.
   */
  stop(deadline: Deadline): Promise<void>;
  /**
   * Releases what other transports' handlers may still use while they drain (the AMQP publisher and
   * connections): called once every transport's `stop()` has resolved.
   */
  close?(deadline: Deadline): Promise<void>;
  /**
   * Closes what must report on the stop until it is over (the HTTP server, while it serves the
   * health and metrics endpoints): called after every transport has closed and the shutdown hooks
   * have run. Must resolve shortly after the deadline at worst.
   */
  closeLast?(deadline: Deadline): Promise<void>;
  health(): TransportHealth;
  /**
   * A route this transport registered (`register` accepted it), as `weir routes` shows it, defaults
   * applied. Pure: reads the route and the transport's options, opens nothing.
   */
  describe(route: RouteRecord): RouteDescription;
  /**
   * What the app declared it sends through this transport (typed publishers), in creation order:
   * rows of `weir routes` after the routes. Pure, like `describe`. Optional: a transport without it
   * declares nothing it sends. A transport that has publications gets its `asyncapi` hook called
   * even when it has no route, to add their `send` operations.
   */
  publications?(): readonly PublicationDescription[];
  /**
   * Adds this transport's servers, channels, operations and messages to an AsyncAPI document: a
   * channel and `receive` operation per route, a `send` operation per publication. Called when the
   * transport has routes or publications (`routes` may then be empty). Without it, the document
   * says in `info.description` that routes (or publishers) of this type are not described, rather
   * than leaving them out silently.
   */
  asyncapi?(builder: AsyncAPIBuilder, routes: readonly RouteRecord[]): void;
  /**
   * How this transport carries tasks (`app.task(name, handler, { transport })`). Without it, a task
   * on this transport fails at definition with `WEIR_ERR_TASK_TRANSPORT`.
   */
  readonly tasks?: TaskCarrier;
}

/**
 * What a transport does for the task layer (src/tasks): it owns the queue, the consumer route and
 * the message format; the layer owns ids, status, results, revocation and callbacks.
 */
export interface TaskCarrier {
  /** The task options this transport reads beside the common ones (AMQP: `vhost`, `declare`, `maxPriority`). */
  readonly optionKeys: readonly string[];
  /**
   * Registers the consumer of task `name`: a route of this transport on the task's queue whose
   * handler calls `run` with one message at a time. `options` are the user's (the common keys:
   * `prefetch`, `concurrency`, `timeout`, `retry`, `deadLetter`, `once`, `schema`; and
   * `optionKeys`). Throws a `ConfigurationError` for an option it cannot honour. Returns how runs
   * are sent.
   */
  define(name: string, options: Readonly<Record<string, unknown>>, run: TaskRun): TaskSender;
}

/** One delivery of a task, as the carrier hands it to the task layer. */
export interface TaskDelivery {
  readonly message: Delivery;
  /** The run's id (the message id the sender set); `undefined` for a message sent some other way. */
  readonly id: string | undefined;
  /** The message's headers (string values only). */
  readonly headers: Readonly<Record<string, string>>;
}

/** The task layer's handler of one delivery; it throws when the attempt failed. */
export type TaskRun = (delivery: TaskDelivery, context: HandlerContext) => Promise<void>;

/** How a task's runs are sent, from `TaskCarrier.define`. */
export interface TaskSender {
  /** The highest `priority` a run may have; `undefined`: runs have no priorities here. */
  readonly maxPriority: number | undefined;
  /**
   * How many attempts a run gets in all before its failure is final (the route's
   * `retry.maxAttempts`; 1 without `retry`); `undefined`: a failure is requeued, so none is final.
   */
  readonly maxAttempts: number | undefined;
  /**
   * Sends one run; resolves once the broker has it. Throws `InvalidOptionError` for a `delay` this
   * transport cannot wait, and the transport's publish errors.
   */
  send(payload: unknown, options: TaskSendOptions): Promise<void>;
}

export interface TaskSendOptions {
  /** The run's id, sent as the message id. */
  readonly id: string;
  /** ms before a worker may take it (0: at once). */
  readonly delay: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly priority?: number | undefined;
  readonly correlationId?: string | undefined;
  /** How long the send may take (ms), where the transport has such a bound. */
  readonly timeout?: number | undefined;
}

/**
 * A transport as the App's `transports` option takes it: a route type and a factory. The built-in
 * ones (`amqp`, `http`, `sse`) are registered by default; a plugin's options are read from the App's
 * options under its `type` (`new App({ amqp: {...} })`).
 */
export interface TransportPlugin<Options = unknown, T extends Transport = Transport> {
  /** The route type, also the key of the plugin's options in `AppOptions` and of `app.<type>`. */
  readonly type: string;
  /**
   * Builds the app's transport. Throws `InvalidOptionError` (`WEIR_ERR_INVALID_OPTION`) for a bad
   * or unknown option: `new App()` fails, never `start()`.
   */
  create(context: TransportContext, options: Options | undefined): T;
}

/** What the App gives each transport when it creates it. */
export interface TransportContext {
  /** The app's logger; transports bind children to `{ transport, route }`. */
  readonly logger: Logger;
  /** The app's name, for connection names and log lines. */
  readonly appName: string;
  /** The app's whole health, for transports that serve it (HTTP `/ready`). */
  health(): AppHealth;
  /** Metrics and tracing hooks; `noInstrumentation` when observability is off. */
  readonly instrumentation: Instrumentation;
  /** `app.route`: for client surfaces that register routes (`app.http.get`, `app.task`). */
  route(routes: readonly string[], spec: { readonly type: string }, handler: unknown): void;
}
