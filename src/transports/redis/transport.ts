import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { ConnectionError } from "../../core/errors.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import { type Logger, redactUrl } from "../../core/logger.js";
import { schemaVendor } from "../../core/schema.js";
import type {
  RouteDescription,
  RouteRecord,
  Transport,
  TransportContext,
  TransportHealth,
} from "../../core/transport.js";
import { addRedisChannels } from "./asyncapi.js";
import { type RedisClient, redisClient } from "./client.js";
import { CommandSwitch, IORedisCommands } from "./commands.js";
import { RedisStreamError } from "./errors.js";
import { RedisLink } from "./link.js";
import { type RedisOptions, type ResolvedRedisOptions, resolveRedisOptions } from "./options.js";
import { RedisRouteConsumer } from "./route-consumer.js";
import { DLQ_SUFFIX, normalizeRedisRoute, RETRY_SUFFIX, type RedisRoute } from "./route-spec.js";

/**
 * The Redis Streams transport: each route reads its streams through a consumer group, on a
 * connection of its own; acks, claims, retries, dead letters and `app.redis.publish` share one more.
 * It connects nothing unless the app has a `redis` route or publishes.
 */
export class RedisTransport implements Transport {
  readonly type = RouteTypes.REDIS;
  /** OpenTelemetry's `messaging.system` has no value for Redis Streams; weir uses `redis`. */
  readonly system = "redis";
  readonly role = "consume";
  readonly client: RedisClient;
  readonly options: ResolvedRedisOptions;
  /** @internal What the routes' acks and `app.redis.publish` go through (weir/testing swaps it). */
  readonly commands: CommandSwitch;
  /** @internal */
  readonly link: RedisLink;
  /** @internal Set by weir/testing: the routes take entries from memory. */
  inMemory = false;
  private readonly logger: Logger;
  private readonly instrumentation: Instrumentation;
  private readonly appName: string;
  private readonly consumers: RedisRouteConsumer[] = [];
  private readonly byRecord = new WeakMap<RouteRecord, RedisRouteConsumer>();

  constructor(context: TransportContext, options?: RedisOptions) {
    this.options = resolveRedisOptions(options);
    this.logger = context.logger.child({ transport: this.type });
    this.instrumentation = context.instrumentation;
    this.appName = context.appName;
    this.link = new RedisLink(this.options.url, context.appName, this.logger);
    this.commands = new CommandSwitch(new IORedisCommands(() => this.link.commands()));
    this.client = redisClient(this.link, this.commands, this.instrumentation, this.type);
  }

  register(record: RouteRecord): void {
    const route = normalizeRedisRoute(record, this.appName, this.options.prefetch);
    const consumer = new RedisRouteConsumer(route, {
      link: this.link,
      commands: this.commands,
      logger: this.logger,
      instrumentation: this.instrumentation,
      transport: this.type,
    });
    this.consumers.push(consumer);
    this.byRecord.set(record, consumer);
  }

  needed(): boolean {
    return this.consumers.length > 0;
  }

  async start(): Promise<void> {
    if (this.inMemory) {
      for (const consumer of this.consumers) consumer.startInMemory();
      return;
    }
    refuseWhenInspecting("a Redis connection");
    try {
      await this.link.commands();
    } catch (error) {
      await this.link.close();
      throw new ConnectionError(
        "WEIR_ERR_CONNECTION",
        `cannot connect to Redis at ${redactUrl(this.options.url)}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      await Promise.all(this.consumers.map((consumer) => consumer.start()));
    } catch (error) {
      if (error instanceof RedisStreamError) throw error;
      throw new ConnectionError(
        "WEIR_ERR_CONNECTION",
        `Redis routes could not start: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  async stop(deadline: Deadline): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop(deadline)));
  }

  /** After every transport stopped: handlers of other routes may publish until then. */
  async close(): Promise<void> {
    await this.link.close();
  }

  health(): TransportHealth {
    const connected = this.inMemory || this.link.commandsReady;
    const routes = this.consumers.map((consumer) => consumer.health(connected));
    return {
      transport: this.type,
      ready: routes.every((route) => route.ready),
      routes,
      connections: this.inMemory ? [] : this.link.health(),
    };
  }

  /** @internal The consumer of a registered route, for weir/testing. */
  consumerOf(record: RouteRecord): RedisRouteConsumer | undefined {
    return this.byRecord.get(record);
  }

  /** @internal Every route's consumer. */
  get routeConsumers(): readonly RedisRouteConsumer[] {
    return this.consumers;
  }

  describe(record: RouteRecord): RouteDescription {
    const route: RedisRoute =
      this.byRecord.get(record)?.route ?? normalizeRedisRoute(record, this.appName, this.options.prefetch);
    return {
      type: this.type,
      routes: record.routes,
      details: {
        url: redactUrl(this.options.url),
        group: route.group,
        prefetch: route.prefetch,
        bulkSize: route.bulkSize,
        claimIdle: route.claimIdle,
        retry: route.retry?.maxAttempts,
        retryKey: route.retry === undefined ? undefined : `<stream>${RETRY_SUFFIX}`,
        deadLetter: route.deadLetter ? `<stream>${DLQ_SUFFIX}` : undefined,
        once: route.once === undefined ? undefined : route.once.ttl,
        schema: schemaVendor(route.schema),
      },
    };
  }

  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    addRedisChannels(
      builder,
      records.map(
        (record) =>
          this.byRecord.get(record)?.route ??
          normalizeRedisRoute(record, this.appName, this.options.prefetch),
      ),
      this.options.url,
    );
  }
}
