import type { Registry } from "prom-client";
import { InvalidOptionError } from "../core/errors.js";
import { knownKeys } from "../core/validate.js";

/** `/health` and `/ready` on weir's HTTP server. */
export interface HealthOptions {
  /**
   * Liveness: answers 200 as long as the event loop does. `false` serves no liveness endpoint.
   * @defaultValue "/health"
   */
  livenessPath?: string | false;
  /**
   * Readiness: 200 when every route is attached (AMQP consumers consuming, SSE streams connected,
   * HTTP listening), else 503 with a JSON body naming what is not. `false` serves no readiness endpoint.
   * @defaultValue "/ready"
   */
  readinessPath?: string | false;
}

/** Histogram buckets of weir's metrics, in the histogram's unit (seconds, or messages). */
export interface MetricsBuckets {
  /**
   * `weir_handler_duration_seconds`.
   * @defaultValue [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
   */
  handlerDuration?: readonly number[];
  /**
   * `weir_bulk_size` (messages).
   * @defaultValue [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]
   */
  bulkSize?: readonly number[];
  /**
   * `weir_publish_confirm_duration_seconds`.
   * @defaultValue [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  publishConfirm?: readonly number[];
  /**
   * `weir_http_request_duration_seconds`.
   * @defaultValue [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  httpDuration?: readonly number[];
}

/** Prometheus metrics (prom-client), in a registry of the App's own. */
export interface MetricsOptions {
  /**
   * Where weir's HTTP server serves the registry in Prometheus' text format. `false` collects
   * metrics without serving them (read `app.metrics` yourself, e.g. for a push gateway).
   * @defaultValue "/metrics"
   */
  path?: string | false;
  /**
   * Also collect prom-client's process metrics (`process_cpu_seconds_total`, `nodejs_heap_*`,
   * event loop lag, ...) into the App's registry.
   * @defaultValue true
   */
  defaultMetrics?: boolean;
  /**
   * Prefix of weir's own metric names (not of the process metrics). Must be a valid start of a
   * Prometheus metric name.
   * @defaultValue "weir_"
   */
  prefix?: string;
  /**
   * The registry to use instead of a new one, e.g. to share it with your own metrics. Two apps in
   * one process must not share one (their metric names would collide).
   * @defaultValue a new `Registry` per App
   */
  registry?: Registry;
  /**
   * Histogram buckets.
   * @defaultValue see {@link MetricsBuckets}
   */
  buckets?: MetricsBuckets;
}

/**
 * `new App({ observability })`. Everything is opt-in: an app without this option serves no
 * endpoint, records nothing and, if it is a pure AMQP worker, opens no port. `true` turns on
 * health, metrics and tracing with their defaults.
 */
export interface ObservabilityOptions {
  /**
   * Liveness and readiness endpoints on weir's HTTP server (`http.host`/`http.port`), which then
   * starts even in a pure AMQP worker. `true` serves `/health` and `/ready`.
   * @defaultValue false
   */
  health?: boolean | HealthOptions;
  /**
   * Prometheus metrics; `true` collects them and serves `/metrics` on weir's HTTP server (which then
   * starts even in a pure AMQP worker).
   * @defaultValue false
   */
  metrics?: boolean | MetricsOptions;
  /**
   * OpenTelemetry spans and W3C trace-context propagation through `@opentelemetry/api`: publishes
   * carry the active context in their headers, handler calls and HTTP requests run in spans. A no-op
   * until you register an OpenTelemetry SDK (tracer provider and propagator).
   * @defaultValue false
   */
  tracing?: boolean;
}

export interface ResolvedMetricsOptions {
  readonly path: string | undefined;
  readonly defaultMetrics: boolean;
  readonly prefix: string;
  readonly registry: Registry | undefined;
  readonly buckets: Required<{ [K in keyof MetricsBuckets]: number[] }>;
}

/** ObservabilityOptions with every default applied, built once at construction. */
export interface ResolvedObservabilityOptions {
  readonly livenessPath: string | undefined;
  readonly readinessPath: string | undefined;
  readonly metrics: ResolvedMetricsOptions | undefined;
  readonly tracing: boolean;
}

const DEFAULT_BUCKETS = {
  handlerDuration: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  bulkSize: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
  publishConfirm: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  httpDuration: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
} as const;

function flag(option: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  throw new InvalidOptionError(option, "must be a boolean");
}

function path(option: string, value: unknown, fallback: string): string | undefined {
  if (value === false) return undefined;
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw new InvalidOptionError(option, `must be a path starting with "/" or false, got ${String(value)}`);
  }
  return value;
}

function buckets(option: string, value: unknown, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every(
      (bound, i) => typeof bound === "number" && Number.isFinite(bound) && (i === 0 || bound > value[i - 1]),
    )
  ) {
    throw new InvalidOptionError(option, "must be a non-empty list of increasing finite numbers");
  }
  return [...value];
}

function resolveMetrics(value: unknown): ResolvedMetricsOptions | undefined {
  if (value === undefined || value === false) return undefined;
  const options: MetricsOptions = value === true ? {} : (value as MetricsOptions);
  knownKeys("observability.metrics", options, ["path", "defaultMetrics", "prefix", "registry", "buckets"]);
  const prefix = options.prefix ?? "weir_";
  // A metric name is [a-zA-Z_:][a-zA-Z0-9_:]*; the prefix is its start.
  if (typeof prefix !== "string" || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new InvalidOptionError("observability.metrics.prefix", "must be a valid start of a metric name");
  }
  if (
    options.registry !== undefined &&
    (typeof options.registry !== "object" ||
      options.registry === null ||
      typeof (options.registry as { metrics?: unknown }).metrics !== "function")
  ) {
    throw new InvalidOptionError("observability.metrics.registry", "must be a prom-client Registry");
  }
  const given = options.buckets ?? {};
  knownKeys("observability.metrics.buckets", given, Object.keys(DEFAULT_BUCKETS));
  return {
    path: path("observability.metrics.path", options.path, "/metrics"),
    defaultMetrics: flag("observability.metrics.defaultMetrics", options.defaultMetrics) ?? true,
    prefix,
    registry: options.registry,
    buckets: {
      handlerDuration: buckets(
        "observability.metrics.buckets.handlerDuration",
        given.handlerDuration,
        DEFAULT_BUCKETS.handlerDuration,
      ),
      bulkSize: buckets("observability.metrics.buckets.bulkSize", given.bulkSize, DEFAULT_BUCKETS.bulkSize),
      publishConfirm: buckets(
        "observability.metrics.buckets.publishConfirm",
        given.publishConfirm,
        DEFAULT_BUCKETS.publishConfirm,
      ),
      httpDuration: buckets(
        "observability.metrics.buckets.httpDuration",
        given.httpDuration,
        DEFAULT_BUCKETS.httpDuration,
      ),
    },
  };
}

/** Applies the defaults and checks every option once, at construction. */
export function resolveObservabilityOptions(
  value: boolean | ObservabilityOptions | undefined,
): ResolvedObservabilityOptions {
  if (value === undefined || value === false) {
    return { livenessPath: undefined, readinessPath: undefined, metrics: undefined, tracing: false };
  }
  const options: ObservabilityOptions =
    value === true ? { health: true, metrics: true, tracing: true } : (value as ObservabilityOptions);
  knownKeys("observability", options, ["health", "metrics", "tracing"]);
  let livenessPath: string | undefined;
  let readinessPath: string | undefined;
  if (options.health !== undefined && options.health !== false) {
    const health: HealthOptions = options.health === true ? {} : options.health;
    knownKeys("observability.health", health, ["livenessPath", "readinessPath"]);
    livenessPath = path("observability.health.livenessPath", health.livenessPath, "/health");
    readinessPath = path("observability.health.readinessPath", health.readinessPath, "/ready");
  }
  const metrics = resolveMetrics(options.metrics);
  const served = [livenessPath, readinessPath, metrics?.path].filter((p) => p !== undefined);
  if (new Set(served).size !== served.length) {
    throw new InvalidOptionError(
      "observability",
      `the health and metrics paths must differ: ${served.join(", ")}`,
    );
  }
  return {
    livenessPath,
    readinessPath,
    metrics,
    tracing: flag("observability.tracing", options.tracing) ?? false,
  };
}
