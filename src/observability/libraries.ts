import { createRequire } from "node:module";
import type * as OpenTelemetry from "@opentelemetry/api";
import type * as PromClient from "prom-client";

/**
 * prom-client and `@opentelemetry/api`, required when an App turns metrics or tracing on, not with
 * weir (issue #16): an app without observability never loads them. Both are CommonJS (Node resolves
 * `@opentelemetry/api` to its CommonJS build for `import` too, so users' imports and these requires
 * share one instance), which keeps `new App({ observability })` synchronous.
 */
const require = createRequire(import.meta.url);

export function promClient(): typeof PromClient {
  return require("prom-client") as typeof PromClient;
}

export function openTelemetry(): typeof OpenTelemetry {
  return require("@opentelemetry/api") as typeof OpenTelemetry;
}
