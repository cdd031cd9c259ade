import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { Instrumentation } from "../core/instrumentation.js";
import { type ObservedApp, type ReservePath, serveEndpoints } from "./endpoints.js";
import { instrumentHTTP } from "./http.js";
import { createInstrumentation } from "./instrumentation.js";
import { WeirMetrics } from "./metrics.js";
import {
  type ObservabilityOptions,
  type ResolvedObservabilityOptions,
  resolveObservabilityOptions,
} from "./options.js";
import { Tracing } from "./tracing.js";

/**
 * What `new App({ observability })` builds: the instrumentation handed to the transports, and the
 * endpoints and request hooks on weir's HTTP server. Built once, at construction, from checked options.
 */
export class Observability {
  readonly options: ResolvedObservabilityOptions;
  readonly instrumentation: Instrumentation;
  private readonly metrics: WeirMetrics | undefined;
  private readonly tracing: Tracing | undefined;

  constructor(
    options: boolean | ObservabilityOptions | undefined,
    private readonly app: ObservedApp,
  ) {
    this.options = resolveObservabilityOptions(options);
    this.metrics = this.options.metrics && new WeirMetrics(this.options.metrics, () => app.health());
    this.tracing = this.options.tracing ? new Tracing() : undefined;
    this.instrumentation = createInstrumentation(this.metrics, this.tracing);
  }

  /** The App's prom-client registry; `undefined` when metrics are off. */
  get registry(): Registry | undefined {
    return this.metrics?.registry;
  }

  /**
   * Installs the request hooks and the endpoints on weir's fastify instance. Must run before any
   * route is added, so that every route's handler runs in its request's span.
   */
  attachHTTP(server: FastifyInstance, reserve: ReservePath): void {
    instrumentHTTP(server, this.metrics, this.tracing);
    serveEndpoints(server, this.options, this.app, this.metrics, reserve);
  }
}
