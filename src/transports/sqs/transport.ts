import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { handlerTimeoutOption } from "../../core/handler-call.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import type { Logger } from "../../core/logger.js";
import { redactUrl } from "../../core/logger.js";
import { schemaVendor } from "../../core/schema.js";
import type {
  RouteDescription,
  RouteRecord,
  Transport,
  TransportContext,
  TransportHealth,
} from "../../core/transport.js";
import { addSQSChannels } from "./asyncapi.js";
import { publishTo, type SQSAppClient } from "./client.js";
import { type ResolvedSQSOptions, resolveSQSOptions, type SQSOptions } from "./options.js";
import type { SQSPort } from "./port.js";
import { SQSRouteConsumer } from "./route-consumer.js";
import { normalizeSQSRoute, type SQSRoute, type SQSRouteSpec } from "./route-spec.js";
import { SQSTaskCarrier } from "./tasks.js";

/**
 * The Amazon SQS transport: a consumer per route (long polling, bulks through core's RouteRunner,
 * settlements as batched deletes and visibility changes) and `app.sqs.publish`. The AWS SDK is
 * loaded on start or on the first publish, never by `import "weir"`.
 */
export class SQSTransport implements Transport {
  readonly type = RouteTypes.SQS;
  readonly system = "aws_sqs";
  readonly role = "consume";
  readonly options: ResolvedSQSOptions;
  readonly client: SQSAppClient;
  /** `app.task(name, handler, { transport: "sqs" })`. */
  readonly tasks: SQSTaskCarrier;
  /**
   * How the transport reaches SQS: the AWS SDK by default; weir/testing puts an in-memory SQS here.
   * @internal
   */
  portFactory: () => Promise<SQSPort>;
  private port: Promise<SQSPort> | undefined;
  private readonly logger: Logger;
  private readonly context: TransportContext;
  private readonly consumers: SQSRouteConsumer[] = [];
  private readonly routes = new WeakMap<RouteRecord, SQSRoute>();

  constructor(context: TransportContext, options: SQSOptions | undefined) {
    this.options = resolveSQSOptions(options);
    this.context = context;
    this.logger = context.logger.child({ transport: "sqs" });
    this.portFactory = async () => (await import("./aws-port.js")).awsPort(this.options);
    this.client = { publish: (body, publishOptions) => publishTo(() => this.sqs(), body, publishOptions) };
    this.tasks = new SQSTaskCarrier(this.client, (routes, spec, handler) =>
      context.route(routes, spec, handler),
    );
  }

  /** The port, created once. @internal */
  sqs(): Promise<SQSPort> {
    this.port ??= this.portFactory();
    return this.port;
  }

  register(record: RouteRecord): void {
    const route = this.normalize(record);
    this.routes.set(record, route);
    const logger = this.logger.child({ route: route.name });
    this.consumers.push(new SQSRouteConsumer(route, record, this.context.instrumentation, logger));
  }

  private normalize(record: RouteRecord): SQSRoute {
    const spec = record.spec as SQSRouteSpec;
    const route = normalizeSQSRoute(record.routes, spec, this.options.prefetch);
    return { ...route, timeout: handlerTimeoutOption("options.timeout", spec.options?.timeout) };
  }

  /** The route `record` became when it was registered. @internal */
  routeOf(record: RouteRecord): SQSRoute {
    return this.routes.get(record) ?? this.normalize(record);
  }

  /** The consumers, in registration order. @internal */
  get routeConsumers(): readonly SQSRouteConsumer[] {
    return this.consumers;
  }

  needed(): boolean {
    return this.consumers.length > 0;
  }

  async start(): Promise<void> {
    refuseWhenInspecting("an SQS connection");
    const port = await this.sqs();
    await Promise.all(this.consumers.map((consumer) => consumer.start(port)));
  }

  async stop(deadline: Deadline): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop(deadline)));
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port !== undefined) (await port.catch(() => undefined))?.close();
  }

  health(): TransportHealth {
    const routes = this.consumers.map((consumer) => consumer.health());
    return { transport: this.type, ready: routes.every((route) => route.ready), routes };
  }

  describe(record: RouteRecord): RouteDescription {
    const route = this.routeOf(record);
    return {
      type: this.type,
      routes: record.routes,
      details: {
        endpoint: this.options.endpoint === undefined ? undefined : redactUrl(this.options.endpoint),
        region: this.options.region,
        bulkSize: route.bulkSize,
        prefetch: route.prefetch,
        concurrency: route.concurrency,
        visibilityTimeout: route.visibilitySeconds === undefined ? "queue's" : route.visibilitySeconds * 1000,
        declare: route.declare === undefined ? undefined : true,
        retry: route.retry?.maxAttempts,
        deadLetter:
          route.deadLetter === undefined
            ? undefined
            : record.routes.map((queue) => route.deadLetter!(queue)).join(","),
        once: (record.spec as SQSRouteSpec).once?.ttl,
        schema: schemaVendor((record.spec as SQSRouteSpec).schema),
      },
    };
  }

  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    addSQSChannels(
      builder,
      records,
      (record) => this.routeOf(record),
      this.options.endpoint,
      this.options.region,
    );
  }
}
