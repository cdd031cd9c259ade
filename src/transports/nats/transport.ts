import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { InvalidOptionError } from "../../core/errors.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import { schemaVendor } from "../../core/schema.js";
import type {
  RouteDescription,
  RouteRecord,
  Transport,
  TransportContext,
  TransportHealth,
} from "../../core/transport.js";
import { addNATSChannels } from "./asyncapi.js";
import { type NATSClient, natsClient } from "./client.js";
import { NatsJsPort } from "./nats-port.js";
import { type NATSOptions, type ResolvedNATSOptions, redactServer, resolveNATSOptions } from "./options.js";
import type { NATSPort } from "./port.js";
import { NATSRouteConsumer } from "./route-consumer.js";
import { deadLetterStreamOf, declaredSubjectsOf, type NATSRoute, normalizeNATSRoute } from "./route-spec.js";

/**
 * The NATS JetStream transport: one connection per app (routes and `app.nats.publish`), a durable
 * pull consumer per route and stream, bulks, retries (`nak(delay)`), dead letters (a stream) and
 * "still working" beats. Opens nothing unless the app has a NATS route or publishes.
 */
export class NATSTransport implements Transport {
  readonly type = RouteTypes.NATS;
  /** OpenTelemetry's `messaging.system` for NATS. */
  readonly system = "nats";
  readonly role = "consume";
  readonly options: ResolvedNATSOptions;
  readonly client: NATSClient;
  private readonly logger: Logger;
  private readonly instrumentation: Instrumentation;
  private readonly appName: string;
  private readonly consumers: NATSRouteConsumer[] = [];
  private readonly routes = new WeakMap<RouteRecord, NATSRoute>();
  private current: NATSPort | undefined;
  private started = false;

  constructor(context: TransportContext, options: NATSOptions | undefined) {
    this.options = resolveNATSOptions(options);
    this.logger = context.logger.child({ transport: "nats" });
    this.instrumentation = context.instrumentation;
    this.appName = context.appName;
    this.client = natsClient(() => this.port(), this.instrumentation);
  }

  /** The connection's port: the official client's, made on first use, unless weir/testing set one. */
  port(): NATSPort {
    if (this.current === undefined) {
      refuseWhenInspecting("a NATS connection");
      this.current = new NatsJsPort(this.options, `weir:${this.appName}`, this.logger);
    }
    return this.current;
  }

  /** @internal weir/testing's in-memory JetStream, set before the app starts. */
  usePort(port: NATSPort): void {
    this.current = port;
  }

  register(record: RouteRecord): void {
    const route = normalizeNATSRoute(record, this.appName, this.options.prefetch);
    this.refuseOtherSubjects(route);
    this.routes.set(record, route);
    this.consumers.push(new NATSRouteConsumer(route, () => this.port(), this.logger, this.instrumentation));
  }

  /**
   * Two routes declaring one stream with different subjects: whichever starts first would create
   * it, and the other's subjects would silently not be captured.
   */
  private refuseOtherSubjects(route: NATSRoute): void {
    for (const stream of route.streams) {
      const wanted = declaredSubjectsOf(route, stream);
      if (wanted === undefined) continue;
      for (const consumer of this.consumers) {
        const other = consumer.route;
        if (!other.streams.includes(stream)) continue;
        const declared = declaredSubjectsOf(other, stream);
        if (declared === undefined || declared.join(" ") === wanted.join(" ")) continue;
        throw new InvalidOptionError(
          route.subjects === undefined ? "declare" : "subjects",
          `another route declares the stream "${stream}" with the subjects ${declared.join(", ")}, this one with ${wanted.join(", ")}: give both the same subjects`,
        );
      }
    }
  }

  needed(): boolean {
    return this.consumers.length > 0;
  }

  async start(): Promise<void> {
    const port = this.port();
    await port.connect();
    await Promise.all(this.consumers.map((consumer) => consumer.start()));
    this.started = true;
  }

  async stop(deadline: Deadline): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop(deadline)));
    this.started = false;
  }

  /** After every transport stopped (their handlers may publish while they drain): the connection. */
  async close(deadline: Deadline): Promise<void> {
    await this.current?.close(deadline);
  }

  /** The route `record` became when it was registered (weir/testing, describe). */
  routeOf(record: RouteRecord): NATSRoute {
    return this.routes.get(record) ?? normalizeNATSRoute(record, this.appName, this.options.prefetch);
  }

  /** The route consumers, in registration order (weir/testing). */
  routeConsumers(): readonly NATSRouteConsumer[] {
    return this.consumers;
  }

  health(): TransportHealth {
    const port = this.current;
    const connected = port?.connected ?? false;
    const routes = this.consumers.map((consumer) => consumer.health(connected));
    return {
      transport: this.type,
      ready: this.started && routes.every((route) => route.ready),
      routes,
      connections: [
        {
          role: "consume+publish",
          connected,
          node: port?.server ?? null,
          reconnects: port?.reconnects ?? 0,
        },
      ],
    };
  }

  describe(record: RouteRecord): RouteDescription {
    const route = this.routeOf(record);
    return {
      type: this.type,
      routes: record.routes,
      details: {
        servers: this.options.servers.map(redactServer).join(","),
        subject: route.subject,
        consumer: route.consumer,
        prefetch: route.prefetch,
        bulkSize: route.bulkSize,
        ackWait: route.ackWait,
        declare: route.declare ? true : undefined,
        subjects: !route.declare
          ? undefined
          : route.streams.length === 1
            ? declaredSubjectsOf(route, route.streams[0]!)?.join(",")
            : (route.subjects?.join(",") ?? "<stream>,<stream>.>"),
        retry: route.retry?.maxAttempts,
        deadLetter:
          route.deadLetter === undefined
            ? undefined
            : route.streams.map((stream) => deadLetterStreamOf(stream, route.deadLetter)).join(","),
        once: route.once?.ttl,
        schema: schemaVendor(route.schema),
      },
    };
  }

  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    addNATSChannels(builder, records, this.options.servers.map(redactServer), (record) =>
      this.routeOf(record),
    );
  }
}
