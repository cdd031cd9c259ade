import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { type App, appTransports } from "../app.js";
import type { AppHealth } from "../core/application.js";
import type { RouteHealth, RouteRecord } from "../core/transport.js";
import { knownKeys } from "../core/validate.js";
import type { AMQPRouteSpec, QueueDeclareOptions } from "../transports/amqp/route-spec.js";
import { amqpInternals } from "../transports/amqp/transport.js";
import type { SSERouteSpec } from "../transports/sse/route-spec.js";
import { createTestAMQP, type TestAMQP, Tracker } from "./amqp-client.js";
import { attributed } from "./attribution.js";
import { TestClientError } from "./errors.js";
import { type MemoryConnection, memoryConnect } from "./memory-amqp.js";
import { MemoryBroker, queueSettings, type RequeuePolicy } from "./memory-broker.js";
import { SSEFeeds, type SSERouteInfo, type TestSSE } from "./sse-client.js";

/** Options of `createTestClient(app, options)`. */
export interface TestClientOptions {
  /**
   * Queues that exist before the app starts, as your ops or migrations create them in production,
   * with their arguments (a dead-letter exchange, a TTL, ...). A queue a route consumes without
   * `declare` is created anyway (durable, no arguments) unless listed here.
   * @defaultValue none beyond the routes' queues
   */
  queues?: Record<string, QueueDeclareOptions & { vhost?: string }>;
  /**
   * What the broker does with a message weir requeues: `"hold"` keeps it aside (its delivery
   * resolves as `requeue`; `client.amqp.redeliver()` sends it again), `"redeliver"` puts it back on
   * its queue at once, as RabbitMQ does (a handler that always throws then loops, as in production).
   * @defaultValue "hold"
   */
  requeue?: RequeuePolicy;
}

/** `client.http`: requests injected into weir's fastify server, without a socket. */
export interface TestHTTP {
  /** fastify's `inject` (light-my-request), after the app has started. */
  inject(request: InjectOptions | string): Promise<LightMyRequestResponse>;
}

/** The test client of one app: see `createTestClient`. */
export interface TestClient<S extends object = Record<string, unknown>> {
  readonly app: App<S>;
  readonly amqp: TestAMQP;
  readonly sse: TestSSE;
  readonly http: TestHTTP;
  /**
   * Starts the app on the in-memory broker (startup hooks included). Every other method calls it,
   * so calling it yourself is only needed to test the start itself. Same promise when called twice.
   */
  start(): Promise<void>;
  /** Stops the app (drain, shutdown hooks) and restores `fetch`. Same promise when called twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function streamRoutes(
  records: readonly RouteRecord[],
  health: AppHealth,
): Array<{ url: string; path: string; route: SSERouteInfo }> {
  const sseHealth = health.transports.find((transport) => transport.transport === "sse");
  const sseRecords = records.filter((record) => record.spec.type === "sse");
  const streams: Array<{ url: string; path: string; route: SSERouteInfo }> = [];
  for (const [index, record] of sseRecords.entries()) {
    const routeHealth = sseHealth?.routes[index];
    const options = (record.spec as SSERouteSpec).options ?? {};
    const requested = options.bulkSize ?? 1;
    const maxPending = options.maxPending ?? Math.max(1000, requested * ((options.concurrency ?? 1) + 1));
    const route: SSERouteInfo = {
      name: record.routes.join(","),
      bulkSize: Math.min(requested, maxPending),
      flushInterval: options.bulkFlushInterval ?? 60_000,
    };
    const described = (routeHealth?.streams ?? []) as Array<{ path?: unknown; url?: unknown }>;
    for (const stream of described) {
      if (typeof stream.url === "string" && typeof stream.path === "string") {
        streams.push({ url: stream.url, path: stream.path, route });
      }
    }
  }
  return streams;
}

/**
 * A test client for `app`: the app runs for real (routes, bulks, acks, retries, hooks) against an
 * in-memory broker, an in-memory SSE source and fastify's `inject`; nothing touches the network.
 *
 * ```ts
 * const client = createTestClient(app);
 * const [result] = await client.amqp.deliver("orders", [{ id: 1, amount: -5 }]);
 * expect(result.outcome).toBe("reject");
 * await client.close();
 * ```
 *
 * Call it before the app starts: it replaces the app's broker connection. weir's timers are the
 * standard ones, so `vi.useFakeTimers()` drives bulk flushes, retries and TTLs (docs/testing.md).
 */
export function createTestClient<S extends object>(
  app: App<S>,
  options: TestClientOptions = {},
): TestClient<S> {
  if (app.status !== "created") {
    throw new TestClientError(
      "WEIR_ERR_TEST_APP_STARTED",
      "createTestClient needs an app that has not started",
    );
  }
  knownKeys("createTestClient", options, ["queues", "requeue"]);
  for (const [name, declared] of Object.entries(options.queues ?? {})) {
    knownKeys(`queues.${name}`, declared, ["durable", "exclusive", "autoDelete", "arguments", "vhost"]);
  }
  const transports = app[appTransports];
  const internals = transports.amqp[amqpInternals]();
  const tracker = new Tracker();
  const broker = new MemoryBroker(tracker, options.requeue ?? "hold");
  tracker.broker = broker;
  const connections = new Set<MemoryConnection>();
  internals.useConnect(memoryConnect(broker, tracker, connections));
  // Each handler call runs in an async context naming its deliveries: what it publishes is theirs.
  internals.wrapHandlers((handler) => attributed(handler, tracker, tracker));
  // Requests go through inject(): the server never listens, so no port is opened.
  transports.http.needed = () => false;

  const routeHealth = (name: string): RouteHealth | undefined =>
    app
      .health()
      .transports.find((transport) => transport.transport === "sse")
      ?.routes.find((route) => route.name === name);

  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const sse = new SSEFeeds(() => start(), routeHealth);

  const createQueues = (): void => {
    for (const [name, declared] of Object.entries(options.queues ?? {})) {
      const { vhost, ...settings } = declared;
      broker.assertQueue(vhost ?? internals.defaultVhost, name, queueSettings({ ...settings }));
    }
    for (const record of app.routes) {
      if (record.spec.type !== "amqp") continue;
      const spec = record.spec as AMQPRouteSpec;
      if (spec.declare !== undefined && spec.declare !== false) continue;
      const vhost = spec.vhost ?? internals.defaultVhost;
      for (const queue of record.routes) {
        if (broker.findQueue(vhost, queue) === undefined) broker.assertQueue(vhost, queue, queueSettings({}));
      }
    }
  };

  const start = (): Promise<void> => {
    if (closing !== undefined) {
      return Promise.reject(new TestClientError("WEIR_ERR_TEST_CLIENT_CLOSED", "the test client is closed"));
    }
    starting ??= (async () => {
      createQueues();
      sse.attach(streamRoutes(app.routes, app.health()));
      await app.start();
    })();
    return starting;
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        if (starting !== undefined) await starting.catch(() => {});
        await app.stop();
        await app.http.server.close();
      } finally {
        sse.detach();
        broker.close();
      }
    })();
    return closing;
  };

  const amqp = createTestAMQP(broker, tracker, internals.defaultVhost, start, () => {
    for (const connection of [...connections]) connection.drop();
  });

  return {
    app,
    amqp,
    sse,
    http: {
      async inject(request) {
        await start();
        return app.http.server.inject(request);
      },
    },
    start,
    close,
    [Symbol.asyncDispose]: close,
  };
}
