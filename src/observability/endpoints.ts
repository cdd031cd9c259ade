import type { FastifyInstance } from "fastify";
import type { AppHealth } from "../core/application.js";
import type { DegradedHealth, RouteHealth } from "../core/transport.js";
import type { WeirMetrics } from "./metrics.js";
import type { ResolvedObservabilityOptions } from "./options.js";

/** What the endpoints need to know about the App. */
export interface ObservedApp {
  /** `starting`, `running`, `stopping`, ... */
  readonly status: string;
  health(): AppHealth;
}

/**
 * Claims a path for one of weir's endpoints, so that a user route on it fails at registration with
 * a coded error that says how to move the endpoint (the HTTP transport's `reserve`).
 */
export type ReservePath = (path: string, owner: string, option: string) => void;

/** A route that is not ready, or a transport that is not ready for a reason none of its routes gives. */
export interface NotReadyEntry {
  readonly transport: string;
  /** The route's name (queues, path or stream); `null` when the transport as a whole is not ready. */
  readonly route: string | null;
  /** The route's health details: `connected`, `consuming`, `lastDeliveryAt`, ... */
  readonly details?: Omit<RouteHealth, "name" | "ready">;
}

/** Something that works below par without failing readiness (a publisher a broker alarm blocks). */
export interface DegradedEntry extends DegradedHealth {
  readonly transport: string;
}

/** The body of `/ready`. */
export interface ReadinessBody {
  readonly ready: boolean;
  /** The app's lifecycle state: anything but `running` is not ready (starting, stopping, ...). */
  readonly status: string;
  /** What is not ready; empty when ready. */
  readonly notReady: readonly NotReadyEntry[];
  /** Present while something works below par and readiness stays as it is: what, and why. */
  readonly degraded?: readonly DegradedEntry[];
}

/** `app.health()` reduced to what a load balancer's operator needs to read from a 503. */
export function readiness(app: ObservedApp): ReadinessBody {
  const health = app.health();
  const notReady: NotReadyEntry[] = [];
  const degraded: DegradedEntry[] = [];
  for (const transport of health.transports) {
    for (const entry of transport.degraded ?? []) degraded.push({ transport: transport.transport, ...entry });
    let named = false;
    for (const route of transport.routes) {
      if (route.ready) continue;
      const { name, ready: _ready, ...details } = route;
      notReady.push({ transport: transport.transport, route: name, details });
      named = true;
    }
    if (!transport.ready && !named) notReady.push({ transport: transport.transport, route: null });
  }
  return { ready: health.ready, status: app.status, notReady, ...(degraded.length > 0 && { degraded }) };
}

const NO_STORE = "no-store";

/** Serves `/health`, `/ready` and `/metrics` (as configured) on weir's fastify instance. */
export function serveEndpoints(
  server: FastifyInstance,
  options: ResolvedObservabilityOptions,
  app: ObservedApp,
  metrics: WeirMetrics | undefined,
  reserve: ReservePath,
): void {
  const { livenessPath, readinessPath } = options;
  if (livenessPath !== undefined) {
    reserve(livenessPath, "the liveness endpoint", "observability.health.livenessPath");
    // Liveness says only that the event loop answers: restarting a worker because its broker is
    // down would not bring the broker back, which is what readiness is for.
    server.get(livenessPath, (_request, reply) => {
      void reply.header("cache-control", NO_STORE).send({ status: "ok" });
    });
  }
  if (readinessPath !== undefined) {
    reserve(readinessPath, "the readiness endpoint", "observability.health.readinessPath");
    server.get(readinessPath, (_request, reply) => {
      const body = readiness(app);
      void reply
        .code(body.ready ? 200 : 503)
        .header("cache-control", NO_STORE)
        .send(body);
    });
  }
  const metricsPath = options.metrics?.path;
  if (metrics !== undefined && metricsPath !== undefined) {
    reserve(metricsPath, "the metrics endpoint", "observability.metrics.path");
    const registry = metrics.registry;
    server.get(metricsPath, async (_request, reply) => {
      const text = await registry.metrics();
      return reply.header("content-type", registry.contentType).header("cache-control", NO_STORE).send(text);
    });
  }
}
