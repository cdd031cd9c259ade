import { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import type { RouteRecord, Transport, TransportContext, TransportHealth } from "../../core/transport.js";
import type { SSEOptions } from "./options.js";
import { SSERouteConsumer } from "./route-consumer.js";
import { normalizeSSERoute, type ResolvedSSEOptions, resolveSSEOptions } from "./route-spec.js";

/**
 * The Server-Sent Events transport: one stream per route path, each with its own reconnect loop,
 * feeding its route's bulk pipeline. It opens nothing unless the app has an SSE route.
 */
export class SSETransport implements Transport {
  readonly type = RouteTypes.SSE;
  private readonly options: ResolvedSSEOptions;
  private readonly logger: Logger;
  private readonly instrumentation: Instrumentation;
  private readonly consumers: SSERouteConsumer[] = [];

  constructor(context: TransportContext, options: SSEOptions = {}) {
    this.options = resolveSSEOptions(options);
    this.logger = context.logger;
    this.instrumentation = context.instrumentation;
  }

  register(record: RouteRecord): void {
    this.consumers.push(
      new SSERouteConsumer(
        normalizeSSERoute(record, this.options, this.logger),
        this.logger,
        this.instrumentation,
      ),
    );
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

  health(): TransportHealth {
    const routes = this.consumers.map((consumer) => consumer.health());
    return { transport: this.type, ready: routes.every((route) => route.ready), routes };
  }
}
