export type { DegradedEntry, NotReadyEntry, ReadinessBody } from "./endpoints.js";
export type { HealthOptions, MetricsBuckets, MetricsOptions, ObservabilityOptions } from "./options.js";
export { type TimeitHistogramOptions, timeitToHistogram } from "./timeit.js";
export { TRACER_NAME } from "./tracing.js";
