import type { Counter, Histogram, Registry } from "prom-client";
import type { AppHealth } from "../core/application.js";
import { InvalidOptionError } from "../core/errors.js";
import type { SettleOutcome } from "../core/instrumentation.js";
import { HealthSnapshot, registerHealthMetrics } from "./health-metrics.js";
import { promClient } from "./libraries.js";
import type { ResolvedMetricsOptions } from "./options.js";

/** Every outcome of the seam, so each route shows all of them from its first scrape (at 0). */
const OUTCOMES: readonly SettleOutcome[] = ["ack", "reject", "requeue", "retry", "dead-letter", "dropped"];

type RouteLabels = "transport" | "route";

/** The series of one route, bound once: a labelled `inc` hashes its labels on every call. */
interface RouteSeries {
  readonly received: Counter.Internal;
  readonly bulkSize: Histogram.Internal<RouteLabels>;
  readonly succeeded: Histogram.Internal<RouteLabels | "result">;
  readonly failed: Histogram.Internal<RouteLabels | "result">;
  readonly settled: Map<SettleOutcome, Counter.Internal>;
}

/** The outcome label of a failed publish: its `WEIR_ERR_PUBLISH_*` code, lower-cased. */
export function publishOutcome(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const match = typeof code === "string" ? /^WEIR_ERR_PUBLISH_([A-Z_]+)$/.exec(code) : null;
  return match?.[1] === undefined ? "error" : match[1].toLowerCase();
}

/**
 * weir's Prometheus metrics in one registry per App (prom-client's global registry would make two
 * apps in one process collide). Counters and histograms are fed by the instrumentation seam, once
 * per bulk; gauges that mirror state (in flight, last delivery, reconnects, readiness) are read from
 * `app.health()` at scrape time, so the hot path pays nothing for them.
 */
export class WeirMetrics {
  readonly registry: Registry;
  private readonly received: Counter<RouteLabels>;
  private readonly settledTotal: Counter<RouteLabels | "outcome">;
  private readonly handlerDuration: Histogram<RouteLabels | "result">;
  private readonly bulkSize: Histogram<RouteLabels>;
  private readonly published: Counter<"transport" | "destination" | "outcome">;
  private readonly publishConfirm: Histogram<"transport" | "destination">;
  private readonly httpRequests: Counter<"method" | "route" | "status">;
  private readonly tasks: Counter<"task" | "status">;
  private readonly httpDuration: Histogram<"method" | "route" | "status">;
  /** By transport, then route: no key string is built per call. */
  private readonly series = new Map<string, Map<string, RouteSeries>>();
  private readonly snapshot: HealthSnapshot;
  /**
   * Transports of role `consume`: their routes report handler calls and settlements through the
   * seam, so only they get zero series up front (a zero on a route that never reports would claim it
   * handled nothing).
   */
  readonly consumers = new Set<string>();

  constructor(options: ResolvedMetricsOptions, health: () => AppHealth) {
    const { Counter, collectDefaultMetrics, Histogram, Registry } = promClient();
    this.registry = options.registry ?? new Registry();
    this.snapshot = new HealthSnapshot(health);
    const registers = [this.registry];
    const p = options.prefix;
    // `self` for the collect callbacks, whose `this` is the metric being collected.
    const self = this;
    try {
      this.received = new Counter({
        name: `${p}messages_received_total`,
        help: "Messages handed to a route's handler.",
        labelNames: ["transport", "route"],
        registers,
      });
      this.settledTotal = new Counter({
        name: `${p}messages_settled_total`,
        help: "Messages that left weir's hands, by outcome (ack, reject, requeue, retry, dead-letter, dropped).",
        labelNames: ["transport", "route", "outcome"],
        registers,
        collect() {
          // Every route gets its series at 0 from the first scrape, so rate() has a start point.
          for (const { transport, route } of self.snapshot.routes()) {
            if (self.consumers.has(transport)) self.routeSeries(transport, route.name);
          }
        },
      });
      this.handlerDuration = new Histogram({
        name: `${p}handler_duration_seconds`,
        help: "Duration of handler calls (one per bulk), by result (success, error).",
        labelNames: ["transport", "route", "result"],
        buckets: options.buckets.handlerDuration,
        registers,
      });
      this.bulkSize = new Histogram({
        name: `${p}bulk_size`,
        help: "Messages per handler call.",
        labelNames: ["transport", "route"],
        buckets: options.buckets.bulkSize,
        registers,
      });
      registerHealthMetrics(p, registers, this.snapshot);
      this.published = new Counter({
        name: `${p}messages_published_total`,
        help: "Publishes, by outcome: confirmed, or the failure (not_sent, unconfirmed, unroutable, no_exchange, refused, nack, closed, error).",
        labelNames: ["transport", "destination", "outcome"],
        registers,
      });
      this.publishConfirm = new Histogram({
        name: `${p}publish_confirm_duration_seconds`,
        help: "Time from publish to the broker's confirm, for confirmed publishes.",
        labelNames: ["transport", "destination"],
        buckets: options.buckets.publishConfirm,
        registers,
      });
      this.tasks = new Counter({
        name: `${p}tasks_total`,
        help: "Task runs that reached a status (submitted by producers; running, retrying, succeeded, failed, revoked by workers).",
        labelNames: ["task", "status"],
        registers,
      });
      this.httpRequests = new Counter({
        name: `${p}http_requests_total`,
        help: "HTTP requests answered, by method, route template and status code.",
        labelNames: ["method", "route", "status"],
        registers,
      });
      this.httpDuration = new Histogram({
        name: `${p}http_request_duration_seconds`,
        help: "Time from receiving an HTTP request to the end of its response.",
        labelNames: ["method", "route", "status"],
        buckets: options.buckets.httpDuration,
        registers,
      });
    } catch (error) {
      throw new InvalidOptionError(
        "observability.metrics.registry",
        `the registry already holds weir's metrics (${(error as Error).message}); give each App its own registry or another prefix`,
      );
    }
    // A shared registry may already collect them; registering them twice would throw.
    if (options.defaultMetrics && this.registry.getSingleMetric("process_cpu_seconds_total") === undefined) {
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /** A handler call of `size` messages starts; call the result when it ends. */
  handlerStarted(transport: string, route: string, size: number): (failed: boolean) => void {
    const series = this.routeSeries(transport, route);
    series.received.inc(size);
    series.bulkSize.observe(size);
    const started = performance.now();
    return (failed) => {
      (failed ? series.failed : series.succeeded).observe((performance.now() - started) / 1000);
    };
  }

  taskStatus(task: string, status: string): void {
    this.tasks.inc({ task, status });
  }

  settled(transport: string, route: string, outcome: SettleOutcome, count: number): void {
    this.routeSeries(transport, route).settled.get(outcome)?.inc(count);
  }

  /** One publish ended: `seconds` until its confirm, `error` when it was not confirmed. */
  publishEnded(transport: string, destination: string, seconds: number, error?: unknown): void {
    if (error === undefined) {
      this.published.inc({ transport, destination, outcome: "confirmed" });
      this.publishConfirm.observe({ transport, destination }, seconds);
    } else {
      this.published.inc({ transport, destination, outcome: publishOutcome(error) });
    }
  }

  /** One HTTP response was sent; `route` is the route template, never the raw URL (cardinality). */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  private routeSeries(transport: string, route: string): RouteSeries {
    let routes = this.series.get(transport);
    if (routes === undefined) {
      routes = new Map();
      this.series.set(transport, routes);
    }
    let series = routes.get(route);
    if (series === undefined) {
      const labels = { transport, route };
      const settled = new Map<SettleOutcome, Counter.Internal>();
      for (const outcome of OUTCOMES) {
        const counter = this.settledTotal.labels({ ...labels, outcome });
        counter.inc(0);
        settled.set(outcome, counter);
      }
      const received = this.received.labels(labels);
      received.inc(0);
      const success = { ...labels, result: "success" };
      const error = { ...labels, result: "error" };
      this.bulkSize.zero(labels);
      this.handlerDuration.zero(success);
      this.handlerDuration.zero(error);
      series = {
        received,
        bulkSize: this.bulkSize.labels(labels),
        succeeded: this.handlerDuration.labels(success),
        failed: this.handlerDuration.labels(error),
        settled,
      };
      routes.set(route, series);
    }
    return series;
  }
}
