/**
 * A transport weir does not ship, written with weir's public exports only: routes over an in-process
 * event bus (a Node `EventEmitter`), with bulks, a schema, once-only processing, retries after a
 * delay and a dead-letter list, all from weir's core. The app registers it with one line
 * (`transports: [busTransport]`); its routes then appear in `weir routes`, in the AsyncAPI document,
 * in `/metrics` and `/ready`, and the test client drives them (test/core/custom-transport.test.ts).
 * docs/writing-a-transport.md walks through it.
 *
 * Run it with `npx tsx examples/10-custom-transport.ts` (or `weir run examples/10-custom-transport.ts`)
 * and stop it with Ctrl-C: it publishes an order every 500 ms, one in five of them invalid, and
 * `curl 127.0.0.1:9464/metrics | grep bus` shows the bus route's counters.
 */
import { EventEmitter } from "node:events";
import { z } from "zod";
import {
  type Acknowledger,
  type Action,
  Actions,
  App,
  type AsyncAPIBuilder,
  BULK_DEFAULTS,
  Delivery,
  DeliveryPolicy,
  type Forwarding,
  type ForwardTarget,
  type HandlerContext,
  handlerTimeoutOption,
  isMainModule,
  knownKeys,
  type Logger,
  type OnceOptions,
  onceOption,
  positiveInteger,
  type Redirect,
  type RouteDescription,
  type RouteRecord,
  RouteRunner,
  type StandardSchemaV1,
  schemaOption,
  type Transport,
  type TransportContext,
  type TransportHealth,
  type TransportPlugin,
} from "../src/index.js";
import type { TestDriverFactory } from "../src/testing/index.js";

// ---------------------------------------------------------------- the route type and its types

/** A bus route: topics in, bulks of messages to the handler. */
export interface BusRouteSpec<T = unknown> {
  type: "bus";
  schema?: StandardSchemaV1;
  once?: OnceOptions<T, BusMessage<T>>;
  /** Failed messages come back after `delay` ms, up to `maxAttempts` calls in all, then the dead letters. */
  retry?: { maxAttempts?: number; delay?: number };
  options?: { bulkSize?: number; bulkFlushInterval?: number; concurrency?: number; timeout?: number };
}
export type BusHandler<T> = (messages: BusMessage<T>[], context: HandlerContext) => unknown;

/** What `app.bus` offers: publish to a topic, read its dead letters. */
export interface BusClient {
  publish(topic: string, body: unknown): void;
  deadLetters(topic: string): readonly { body: unknown; reason: string }[];
}

declare module "../src/index.js" {
  interface RouteKinds<T> {
    bus: { spec: BusRouteSpec<T>; handler: BusHandler<T>; standardSchema: true };
  }
  interface AppClients {
    readonly bus: BusClient;
  }
}

// ---------------------------------------------------------------- the delivery

/** One message of the bus: core's Delivery, plus its topic. */
export class BusMessage<T = unknown> extends Delivery<T> {
  constructor(
    readonly topic: string,
    body: T,
    readonly id: string,
    private readonly failures: number,
    private readonly requeued: boolean,
    private readonly log: Logger,
  ) {
    super(body);
  }
  get source(): string {
    return this.topic;
  }
  get headers(): Readonly<Record<string, unknown>> {
    return { id: this.id };
  }
  /** Requeued (not retried): core counts these toward the attempts, as it does a broker's redeliveries. */
  get redelivered(): boolean {
    return this.requeued;
  }
  get messageId(): string {
    return this.id;
  }
  get rawBytes(): Buffer {
    return Buffer.from(JSON.stringify(this.body ?? null));
  }
  logFields(): Record<string, unknown> {
    return { topic: this.topic, id: this.id };
  }
  priorAttempts(): number {
    return this.failures;
  }
  protected get deliveryLogger(): Logger {
    return this.log;
  }
}

// ---------------------------------------------------------------- the bus, its acknowledger and forwarding

interface Envelope {
  readonly body: unknown;
  readonly id: string;
  readonly failures: number;
  readonly requeued: boolean;
}

class Bus extends EventEmitter {
  private next = 0;
  readonly deadLetters = new Map<string, { body: unknown; reason: string }[]>();
  publish(topic: string, body: unknown, id = `m${++this.next}`, failures = 0, requeued = false): void {
    this.emit(topic, { body, id, failures, requeued } satisfies Envelope);
  }
}

/** ack: done; requeue: published again at once; reject: dropped. */
function busAcknowledger(bus: Bus): Acknowledger<BusMessage> {
  const apply = (message: BusMessage, action: Action): void => {
    if (action === Actions.REQUEUE)
      bus.publish(message.topic, message.body, message.id, message.priorAttempts(), true);
  };
  return {
    settle: (messages, fallback) => {
      for (const message of messages) apply(message, message.settle(fallback));
    },
    abandon: (messages) => {
      for (const message of messages) apply(message, message.settle(Actions.REQUEUE));
    },
    settleable: () => true,
  };
}

/** Retries come back after the route's delay; dead letters go to a list per topic. */
interface BusTarget extends ForwardTarget {
  /** Why, for the dead letter. */
  readonly reason: string;
}

function busForwarding(bus: Bus, delay: number, maxAttempts: number): Forwarding<BusMessage, BusTarget> {
  const forwarding = {
    retried: 0,
    deadLettered: 0,
    target(message: BusMessage, redirect: Redirect): BusTarget {
      const last = message.priorAttempts() + 1 >= maxAttempts;
      const reason = redirect.error instanceof Error ? redirect.error.message : "failed";
      return { kind: redirect.kind === "retry" && !last ? "retry" : "dead-letter", reason };
    },
    async forward(message: BusMessage, target: BusTarget): Promise<void> {
      message.settle(Actions.ACK);
      if (target.kind === "retry") {
        forwarding.retried++;
        const failures = message.priorAttempts() + 1;
        setTimeout(() => bus.publish(message.topic, message.body, message.id, failures), delay);
        return;
      }
      forwarding.deadLettered++;
      const list = bus.deadLetters.get(message.topic) ?? [];
      list.push({ body: message.body, reason: target.reason });
      bus.deadLetters.set(message.topic, list);
    },
    attach: async (): Promise<void> => {},
  };
  return forwarding;
}

// ---------------------------------------------------------------- the transport

interface BusRoute {
  readonly record: RouteRecord;
  readonly runner: RouteRunner<BusMessage>;
  readonly listeners: Map<string, (envelope: Envelope) => void>;
  handled: number;
}

export class BusTransport implements Transport {
  readonly type = "bus";
  readonly system = "weir_bus"; // not one of OpenTelemetry's messaging systems: a name of its own
  readonly role = "consume";
  readonly bus = new Bus();
  readonly client: BusClient = {
    publish: (topic, body) => this.bus.publish(topic, body),
    deadLetters: (topic) => this.bus.deadLetters.get(topic) ?? [],
  };
  private readonly routes: BusRoute[] = [];
  private started = false;

  constructor(private readonly context: TransportContext) {}

  register(record: RouteRecord): void {
    const spec = record.spec as BusRouteSpec;
    knownKeys("route", spec, ["type", "schema", "once", "retry", "options"]);
    const options = spec.options ?? {};
    knownKeys("options", options, ["bulkSize", "bulkFlushInterval", "concurrency", "timeout"]);
    knownKeys("retry", spec.retry, ["maxAttempts", "delay"]);
    const name = record.routes.join(",");
    const logger = this.context.logger.child({ transport: this.type, route: name });
    const acknowledger = busAcknowledger(this.bus);
    const maxAttempts = positiveInteger("retry.maxAttempts", spec.retry?.maxAttempts, 3);
    const settings = {
      route: name,
      transport: this.type,
      onSuccess: Actions.ACK,
      onException: Actions.REQUEUE,
      retry: spec.retry === undefined ? undefined : { maxAttempts },
      once: onceOption<BusMessage>(spec.once),
      schema: schemaOption("schema", spec.schema),
      forwarding: busForwarding(
        this.bus,
        positiveInteger("retry.delay", spec.retry?.delay, 100),
        maxAttempts,
      ),
    };
    const runner = new RouteRunner<BusMessage>({
      route: {
        name,
        bulkSize: positiveInteger("bulkSize", options.bulkSize, BULK_DEFAULTS.bulkSize),
        flushInterval: positiveInteger("bulkFlushInterval", options.bulkFlushInterval, 100),
        concurrency: positiveInteger("concurrency", options.concurrency, BULK_DEFAULTS.concurrency),
        timeout: handlerTimeoutOption("timeout", options.timeout),
        onSuccess: settings.onSuccess,
        onException: settings.onException,
        handler: record.handler as BusHandler<unknown>,
      },
      transport: this.type,
      acknowledger,
      policy: new DeliveryPolicy<BusMessage>(settings, acknowledger, this.context.instrumentation, logger),
      instrumentation: this.context.instrumentation,
      logger,
    });
    this.routes.push({ record, runner, listeners: new Map(), handled: 0 });
  }

  needed(): boolean {
    return this.routes.length > 0;
  }

  async start(): Promise<void> {
    for (const route of this.routes) {
      for (const topic of route.record.routes) {
        const listener = (envelope: Envelope): void => {
          const logger = this.context.logger;
          const { body, id, failures, requeued } = envelope;
          route.runner.push(new BusMessage(topic, body, id, failures, requeued, logger));
        };
        route.listeners.set(topic, listener);
        this.bus.on(topic, listener);
      }
    }
    this.started = true;
  }

  async stop(deadline: Parameters<Transport["stop"]>[0]): Promise<void> {
    await Promise.all(
      this.routes.map((route) =>
        route.runner.stop(deadline, {
          stopIntake: async () => {
            for (const [topic, listener] of route.listeners) this.bus.off(topic, listener);
          },
        }),
      ),
    );
  }

  health(): TransportHealth {
    const routes = this.routes.map((route) => ({
      name: route.record.routes.join(","),
      ready: this.started,
      inFlight: route.runner.size,
      ...route.runner.stats(),
    }));
    return { transport: this.type, ready: this.started, routes };
  }

  describe(record: RouteRecord): RouteDescription {
    const spec = record.spec as BusRouteSpec;
    return {
      type: this.type,
      routes: record.routes,
      details: {
        bulkSize: spec.options?.bulkSize ?? BULK_DEFAULTS.bulkSize,
        retry: spec.retry?.maxAttempts ?? (spec.retry ? 3 : undefined),
        once: spec.once?.ttl,
        schema: spec.schema === undefined ? undefined : true,
      },
    };
  }

  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    builder.document.servers.bus = {
      host: "in-process",
      protocol: "weir-bus",
      description: "An in-process EventEmitter.",
    };
    for (const record of records) {
      for (const topic of record.routes) {
        const channel = builder.key(`bus.${topic}`);
        const message = builder.key(`${channel}.message`);
        builder.message(
          message,
          topic,
          (record.spec as BusRouteSpec).schema,
          "application/json",
          `A ${topic} message.`,
        );
        builder.document.channels[channel] = {
          address: topic,
          servers: [{ $ref: "#/servers/bus" }],
          messages: { [message]: { $ref: `#/components/messages/${message}` } },
        };
        builder.document.operations[builder.key(`receive.${channel}`)] = {
          action: "receive",
          channel: { $ref: `#/channels/${channel}` },
        };
      }
    }
  }
}

/** The plugin: `new App({ transports: [busTransport] })`. */
export const busTransport: TransportPlugin<undefined, BusTransport> = {
  type: "bus",
  create: (context) => new BusTransport(context),
};

/** Its test driver: `createTestClient(app, { drivers: [busTestDriver] })`, then `client.transport("bus")`. */
export const busTestDriver: TestDriverFactory<BusTransport> = {
  type: "bus",
  optionKeys: [],
  create: (transport, context) => ({
    api: {
      async publish(topic: string, body: unknown): Promise<void> {
        await context.start();
        transport.bus.publish(topic, body);
      },
      deadLetters: (topic: string) => transport.client.deadLetters(topic),
    },
  }),
};

// ---------------------------------------------------------------- an app that uses it

const Order = z.object({ id: z.number(), total: z.number().nonnegative() });

/** A fresh app per call (tests build one each). */
export function createApp(): App {
  const app = new App({ name: "bus-example", transports: [busTransport], observability: true });
  app.route(
    ["orders"],
    {
      type: "bus",
      schema: Order,
      once: { ttl: 60_000, key: (message) => String(message.body.id) },
      retry: { maxAttempts: 3, delay: 50 },
      options: { bulkSize: 10, bulkFlushInterval: 100 },
    },
    async (orders) => {
      for (const order of orders) {
        if (order.body.total > 1000) {
          order.deadLetter("the total needs a review"); // this one only; the bulk goes on
          continue;
        }
        app.logger.info({ id: order.body.id, total: order.body.total }, "order handled");
      }
    },
  );
  return app;
}

export const app = createApp();

if (isMainModule(import.meta.url)) {
  let id = 0;
  let timer: NodeJS.Timeout | undefined;
  app.onStartup(async () => {
    timer = setInterval(() => {
      id++;
      app.bus.publish("orders", id % 5 === 0 ? { id, total: "invalid" } : { id, total: id * 30 });
    }, 500);
  });
  app.onShutdown(async () => clearInterval(timer));
  await app.run();
}
