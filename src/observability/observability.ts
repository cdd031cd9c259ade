import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import { ConfigurationError } from "../core/errors.js";
import type { Instrumentation } from "../core/instrumentation.js";
import type { EndpointHost, TransportRole } from "../core/transport.js";
import { type ObservedApp, serveEndpoints } from "./endpoints.js";
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

  /** Tells metrics and tracing about one of the app's transports. */
  addTransport(type: string, system: string, role: TransportRole): void {
    this.tracing?.systems.set(type, system);
    if (role === "consume") this.metrics?.consumers.add(type);
  }

  /** Whether any of `/health`, `/ready`, `/metrics` is served. */
  private servesEndpoints(): boolean {
    return (
      this.options.livenessPath !== undefined ||
      this.options.readinessPath !== undefined ||
      this.options.metrics?.path !== undefined
    );
  }

  /**
   * Installs the request hooks and the endpoints on the server of the transport that hosts them.
   * Must run before any route is added, so that every route's handler runs in its request's span.
   * Throws `WEIR_ERR_NO_ENDPOINT_HOST` when endpoints are asked for and no transport can serve them.
   */
  attachEndpoints(host: EndpointHost | undefined): void {
    if (host === undefined) {
      if (this.servesEndpoints()) {
        throw new ConfigurationError(
          "WEIR_ERR_NO_ENDPOINT_HOST",
          "observability endpoints need a transport that serves HTTP (the built-in http transport)",
        );
      }
      return;
    }
    // Request hooks only once the server exists: an app that serves no HTTP creates no server, and
    // never loads fastify, just to instrument it (issue #16).
    if (this.metrics !== undefined || this.tracing !== undefined) {
      const metrics = this.metrics;
      const tracing = this.tracing;
      const instrument = (server: FastifyInstance) => instrumentHTTP(server, metrics, tracing);
      if (host.whenServer !== undefined) host.whenServer(instrument);
      else instrument(host.server);
    }
    if (this.servesEndpoints()) {
      serveEndpoints(host.server, this.options, this.app, this.metrics, (path, owner, option) =>
        host.reserve(path, owner, option),
      );
    }
  }
}
