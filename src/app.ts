import type { Registry } from "prom-client";
import { Application, appTransports, type CoreOptions } from "./core/application.js";
import { ConfigurationError } from "./core/errors.js";
import type { RouteMethod } from "./core/route-kinds.js";
import type { SchemaOutput, StandardSchemaV1 } from "./core/schema.js";
import type { Transport, TransportContext, TransportPlugin } from "./core/transport.js";
import { knownKeys } from "./core/validate.js";
import { Observability } from "./observability/observability.js";
import type { ObservabilityOptions } from "./observability/options.js";
import { TaskTransportError } from "./tasks/errors.js";
import { appTaskLayer, TaskLayer } from "./tasks/layer.js";
import type { Lock, LockOptions } from "./tasks/lock.js";
import type { CommonTaskOptions } from "./tasks/options.js";
import { defineTask, type Task, type TaskHandler } from "./tasks/task.js";
import type { AMQPMessage } from "./transports/amqp/message.js";
import { amqpTransport } from "./transports/amqp/plugin.js";
import type { AMQPTaskOptions } from "./transports/amqp/tasks.js";
import { httpTransport } from "./transports/http/plugin.js";
import { natsTransport } from "./transports/nats/plugin.js";
import { resolveRedisOptions } from "./transports/redis/options.js";
import { redisTransport } from "./transports/redis/plugin.js";
import type { SQSMessage } from "./transports/sqs/message.js";
import { sqsTransport } from "./transports/sqs/plugin.js";
import type { SQSTaskOptions } from "./transports/sqs/tasks.js";
import { sseTransport } from "./transports/sse/plugin.js";

/**
 * The composition root: the only module besides each transport's own folder that names a transport
 * (a lint rule keeps `core/`, `cli/`, `asyncapi/`, `observability/` and `testing/` from importing
 * `transports/`). It registers the built-in transports and gives each its options.
 */

/** The transports every App has unless `transports` says otherwise: RabbitMQ, HTTP, SSE. */
export const BUILT_IN_TRANSPORTS: readonly TransportPlugin[] = [
  amqpTransport as TransportPlugin,
  httpTransport as TransportPlugin,
  sseTransport as TransportPlugin,
  redisTransport as TransportPlugin,
  natsTransport as TransportPlugin,
  sqsTransport as TransportPlugin,
];

/**
 * Everything `new App(...)` accepts. Each transport adds its options under its type (`amqp`, `http`,
 * `sse`, and a plugin's own) by declaration merging.
 */
export interface AppOptions extends CoreOptions {
  /**
   * `/health`, `/ready`, Prometheus metrics on `/metrics`, and OpenTelemetry spans; `true` turns all
   * of them on. Opt-in, so that an app never grows endpoints (or, as a pure AMQP worker, opens a
   * port) it did not ask for. See docs/operations.md.
   * @defaultValue false
   */
  observability?: boolean | ObservabilityOptions;
  /**
   * More transports, beside the built-in ones: each plugin's options are read from this object
   * under its `type`. A type registered twice throws `WEIR_ERR_DUPLICATE_TRANSPORT`. See
   * docs/writing-a-transport.md.
   * @defaultValue none
   */
  transports?: readonly TransportPlugin[];
}

/**
 * What the app offers per transport as `app.<type>` (`app.amqp`, `app.http`): each transport adds its
 * member by declaration merging, as it adds its route type to `RouteKinds`:
 *
 * ```ts
 * declare module "weir" {
 *   interface AppClients {
 *     readonly files: FilesClient;
 *   }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by each transport by declaration merging.
export interface AppClients {}

/** `app.task(name, handler, options)` on RabbitMQ (the default transport). */
export type TaskOptions<T = unknown> = AMQPTaskOptions<T> & CommonTaskOptions & { transport?: "amqp" };
/** `app.task(name, handler, { transport: "sqs", ... })`. */
export type SQSTaskDefinition<T = unknown> = SQSTaskOptions<T> & CommonTaskOptions & { transport: "sqs" };

const CORE_OPTION_KEYS = ["logger", "shutdownTimeout", "name"] as const;

function pluginsOf(options: AppOptions): TransportPlugin[] {
  const extra = options.transports ?? [];
  if (!Array.isArray(extra)) {
    throw new ConfigurationError(
      "WEIR_ERR_TRANSPORT_TYPE",
      "transports must be an array of transport plugins",
    );
  }
  const plugins: TransportPlugin[] = [...BUILT_IN_TRANSPORTS];
  for (const plugin of extra as readonly unknown[]) {
    const candidate = plugin as Partial<TransportPlugin> | null;
    if (
      typeof candidate !== "object" ||
      candidate === null ||
      typeof candidate.type !== "string" ||
      !/^[a-z][a-z0-9-]*$/.test(candidate.type) ||
      typeof candidate.create !== "function"
    ) {
      throw new ConfigurationError(
        "WEIR_ERR_TRANSPORT_TYPE",
        "a transport plugin needs a type (lower-case letters, digits, dashes) and a create(context, options) function",
      );
    }
    if (plugins.some((known) => known.type === candidate.type) || candidate.type in CORE_KEYS) {
      throw new ConfigurationError(
        "WEIR_ERR_DUPLICATE_TRANSPORT",
        `a transport of type "${candidate.type}" is already registered`,
      );
    }
    plugins.push(candidate as TransportPlugin);
  }
  return plugins;
}

const CORE_KEYS: Readonly<Record<string, true>> = {
  logger: true,
  shutdownTimeout: true,
  name: true,
  observability: true,
  transports: true,
};

/** Refuses unknown keys before anything is built: `{ ampq: {...} }` must not quietly use the default broker. */
function checked(options: AppOptions, plugins: readonly TransportPlugin[]): AppOptions {
  knownKeys("", options, [
    ...CORE_OPTION_KEYS,
    ...plugins.map((plugin) => plugin.type),
    "observability",
    "transports",
  ]);
  return options;
}

/**
 * A weir application: one route table of AMQP, HTTP and SSE handlers (and those of any transport
 * plugin) with a shared lifecycle.
 *
 * ```ts
 * const app = new App({ amqp: { prefetch: 256 } });
 * app.route(["orders"], { type: RouteTypes.AMQP, options: { bulkSize: 100 } }, async (messages) => {});
 * await app.run();
 * ```
 */
// biome-ignore lint/correctness/noUnusedVariables: S must match the class's parameters for the merge.
export interface App<S extends object = Record<string, unknown>> extends AppClients {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface only adds the transports' clients, which the constructor defines.
export class App<S extends object = Record<string, unknown>> extends Application<S> {
  /**
   * The App's own prom-client registry (never the global one), for your metrics beside weir's;
   * `undefined` unless `observability.metrics` is on.
   */
  readonly metrics: Registry | undefined;
  /** Tasks' status, results and callbacks (src/tasks). */
  private readonly taskLayer: TaskLayer;
  /** Task names per transport and vhost, to refuse a second task on one queue. */
  private readonly taskNames = new Set<string>();

  /** @internal How weir/testing reaches the task layer (to keep results in memory). */
  get [appTaskLayer](): TaskLayer {
    return this.taskLayer;
  }

  /**
   * Binds `handler` to `routes`. The route's `type` decides what the handler receives: an array of
   * AMQP messages, an array of SSE events, fastify's `(request, reply)`, or what a transport plugin
   * gives. With a `schema`, the body type is the schema's output. Returns the handler. Misuse (an
   * unknown type, a bad option, a non-function handler, a call after start) throws a `WeirError`
   * here, never later.
   */
  readonly route: RouteMethod = ((routes: readonly string[], spec: { type: string }, handler: unknown) => {
    this.addRoute(routes, spec, handler);
    return handler;
  }) as RouteMethod;

  /**
   * Checks every option here, once: a bad value or an unknown key (a misspelling such as `ampq` or
   * `shutdowntimeout`) throws an `InvalidOptionError` (`WEIR_ERR_INVALID_OPTION`) naming it and
   * listing the known keys.
   */
  constructor(options: AppOptions = {}) {
    const plugins = pluginsOf(options);
    super(checked(options, plugins));
    const observability = new Observability(options.observability, this);
    this.metrics = observability.registry;
    // The task store's Redis is the app's `redis` (Redis Streams routes use the same server).
    const redis = (options as { redis?: Parameters<typeof resolveRedisOptions>[0] }).redis;
    this.taskLayer = new TaskLayer(
      resolveRedisOptions(redis).url,
      this.name,
      this.logger.child({ component: "tasks" }),
      observability.instrumentation,
    );
    this.addService(this.taskLayer);
    this.addCloser(() => this.taskLayer.close());
    const context: TransportContext = {
      logger: this.logger,
      appName: this.name,
      health: () => this.health(),
      instrumentation: observability.instrumentation,
      route: (routes, spec, handler) => {
        this.addRoute(routes, spec, handler);
      },
    };
    const byType = options as Readonly<Record<string, unknown>>;
    for (const plugin of plugins) {
      const transport: Transport = plugin.create(context, byType[plugin.type]);
      if (transport.type !== plugin.type) {
        throw new ConfigurationError(
          "WEIR_ERR_TRANSPORT_TYPE",
          `the transport plugin "${plugin.type}" created a transport of type "${transport.type}"`,
        );
      }
      this.addTransport(transport);
      observability.addTransport(transport.type, transport.system, transport.role);
      if (transport.client !== undefined) {
        Object.defineProperty(this, transport.type, { value: transport.client, enumerable: true });
      }
    }
    // Before any route exists: the request hooks wrap the handlers of routes added after them.
    const host = this.transportList().find((transport) => transport.endpoints !== undefined)?.endpoints;
    observability.attachEndpoints(host);
  }

  /**
   * A distributed mutex on the app's Redis (`redis.url`): at most one holder across every process
   * that names the same lock, released only by its owner, expiring `ttl` ms after it was taken or
   * last extended. `acquire()` waits up to `wait` ms (`WEIR_ERR_LOCK_TIMEOUT`), `using(fn)` holds
   * it while `fn` runs and extends it. See docs/tasks.md, "Locks".
   *
   * ```ts
   * const invoices = app.lock("invoices", { ttl: 30_000, wait: 5_000 });
   * await invoices.using(async (handle, signal) => writeInvoices(signal));
   * ```
   */
  lock(name: string, options: LockOptions): Lock {
    return this.taskLayer.lock(name, options);
  }

  /**
   * Defines a task: a route on the queue `name` (on RabbitMQ, declared by weir; on SQS with
   * `transport: "sqs"`, an existing queue) that calls `handler` with one payload at a time, and
   * returns its producer: `delay(payload, options)` enqueues a run from any process and resolves
   * with its handle (`status()`, `result()`, `revoke()`), `get(id)` rebuilds a handle. The payload
   * type comes from `schema` (zod, valibot, arktype: any Standard Schema) or the type parameter; the
   * result type from what the handler returns. Status and results live in Redis (the app's
   * `redis.url`) unless `results: false`. Misuse throws a `WeirError` here, like `route`: a
   * transport that cannot carry tasks is `WEIR_ERR_TASK_TRANSPORT`. See docs/tasks.md.
   *
   * ```ts
   * const sendEmail = app.task("emails.send", async (email) => mailer.send(email), { schema: Email });
   * const job = await sendEmail.delay({ to: "ada@example.com" });
   * const receipt = await job.result({ timeout: 30_000 });
   * ```
   */
  task<Schema extends StandardSchemaV1, R = unknown>(
    name: string,
    handler: TaskHandler<SchemaOutput<Schema>, SQSMessage<SchemaOutput<Schema>>, R>,
    options: SQSTaskDefinition<SchemaOutput<Schema>> & { schema: Schema },
  ): Task<StandardSchemaV1.InferInput<Schema>, Awaited<R>>;
  task<T = unknown, R = unknown>(
    name: string,
    handler: TaskHandler<T, SQSMessage<T>, R>,
    options: SQSTaskDefinition<T> & { schema?: undefined },
  ): Task<T, Awaited<R>>;
  task<Schema extends StandardSchemaV1, R = unknown>(
    name: string,
    handler: TaskHandler<SchemaOutput<Schema>, AMQPMessage<SchemaOutput<Schema>>, R>,
    options: TaskOptions<SchemaOutput<Schema>> & { schema: Schema },
  ): Task<StandardSchemaV1.InferInput<Schema>, Awaited<R>>;
  task<T = unknown, R = unknown>(
    name: string,
    handler: TaskHandler<T, AMQPMessage<T>, R>,
    options?: TaskOptions<T> & { schema?: undefined },
  ): Task<T, Awaited<R>>;
  task(name: string, handler: unknown, taskOptions?: object): Task<unknown, unknown> {
    const options = taskOptions as Readonly<Record<string, unknown>> | undefined;
    const type = options?.transport ?? "amqp";
    const transport = typeof type === "string" ? this[appTransports].get(type) : undefined;
    if (transport === undefined || transport.tasks === undefined) {
      throw new TaskTransportError(
        String(name),
        transport === undefined
          ? `transport "${String(type)}" is not a transport of this app`
          : `transport "${String(type)}" cannot carry tasks (it has no TaskCarrier)`,
      );
    }
    return defineTask(
      this.taskLayer,
      { type: transport.type, tasks: transport.tasks },
      name,
      handler,
      options,
      this.taskNames,
    );
  }
}
