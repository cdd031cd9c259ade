import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import { redactUrl } from "../../core/logger.js";
import type {
  RouteDescription,
  RouteRecord,
  Transport,
  TransportContext,
  TransportHealth,
} from "../../core/transport.js";
import { addSSEChannels } from "./asyncapi.js";
import { type Fetcher, globalFetcher } from "./connection.js";
import type { SSEOptions } from "./options.js";
import { SSERouteConsumer } from "./route-consumer.js";
import {
  normalizeSSERoute,
  type ResolvedSSEOptions,
  resolveSSEOptions,
  type SSERoute,
  type SSERouteSpec,
} from "./route-spec.js";

/**
 * The Server-Sent Events transport: one stream per route path, each with its own reconnect loop,
 * feeding its route's bulk pipeline. It opens nothing unless the app has an SSE route.
 */
export class SSETransport implements Transport {
  readonly type = RouteTypes.SSE;
  /** No `messaging.system` of OpenTelemetry's list fits a Server-Sent Events stream: its own name. */
  readonly system = "sse";
  readonly role = "consume";
  private readonly options: ResolvedSSEOptions;
  private readonly logger: Logger;
  private readonly instrumentation: Instrumentation;
  private readonly consumers: SSERouteConsumer[] = [];
  /** What every connection of this app fetches through (weir/testing swaps `fetch` per app). */
  readonly fetcher: Fetcher = globalFetcher();
  /** Each registered route, normalized, for `describe`. */
  private readonly routes = new WeakMap<RouteRecord, SSERoute>();

  constructor(context: TransportContext, options: SSEOptions = {}) {
    this.options = resolveSSEOptions(options);
    this.logger = context.logger;
    this.instrumentation = context.instrumentation;
  }

  register(record: RouteRecord): void {
    const route = normalizeSSERoute(record, this.options, this.logger);
    this.routes.set(record, route);
    this.consumers.push(new SSERouteConsumer(route, this.logger, this.instrumentation, this.fetcher));
  }

  needed(): boolean {
    return this.consumers.length > 0;
  }

  async start(): Promise<void> {
    refuseWhenInspecting("an SSE connection");
    await Promise.all(this.consumers.map((consumer) => consumer.start()));
  }

  async stop(deadline: Deadline): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop(deadline)));
  }

  describe(record: RouteRecord): RouteDescription {
    const spec = record.spec as SSERouteSpec;
    const route = this.routes.get(record) ?? normalizeSSERoute(record, this.options, this.logger);
    const url = spec.url ?? this.options.base?.url.href;
    return {
      type: this.type,
      routes: record.routes,
      details: {
        url: url === undefined ? undefined : redactUrl(url),
        bulkSize: route.bulkSize,
      },
    };
  }

  asyncapi(builder: AsyncAPIBuilder, records: readonly RouteRecord[]): void {
    addSSEChannels(builder, records, this.health());
  }

  /** The route `record` became when it was registered: for weir/testing's feeds. */
  routeOf(record: RouteRecord): SSERoute | undefined {
    return this.routes.get(record);
  }

  health(): TransportHealth {
    const routes = this.consumers.map((consumer) => consumer.health());
    return { transport: this.type, ready: routes.every((route) => route.ready), routes };
  }
}
