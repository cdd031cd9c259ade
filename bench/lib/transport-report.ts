import type { HttpSummary } from "./http-pair.js";
import type { Spread } from "./report.js";
import type { SseSummary } from "./sse-pair.js";

/**
 * The table of the HTTP and SSE pairs (their units differ from the AMQP pairs': requests and
 * events, server or client CPU), printed after the AMQP table and pasted into docs/performance.md.
 */

const thousands = (value: number): string => Math.round(value).toLocaleString("en-US");
const ratio = (value: Spread): string =>
  `**${value.median.toFixed(2)}** (${value.min.toFixed(2)}–${value.max.toFixed(2)})`;

export function transportTable(
  http: HttpSummary | undefined,
  sse: SseSummary | undefined,
  how: { reps: number; httpSeconds: number; httpConnections: number; sseN: number; pinned: boolean },
): string {
  if (http === undefined && sse === undefined) return "";
  const lines = [
    "| pair | per side | raw rate | weir rate | weir/raw rate median (min–max) | CPU µs per unit raw → weir | weir/raw CPU median (min–max) | p99 ms raw / weir | target | met |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  if (http !== undefined) {
    lines.push(
      [
        "",
        "5. HTTP: bare fastify vs weir HTTP route, same handler (server CPU per request)",
        `${how.httpSeconds} s × ${how.reps}, ${how.httpConnections} connections`,
        `${thousands(http.raw.reqPerSec.median)} req/s`,
        `${thousands(http.weir.reqPerSec.median)} req/s`,
        ratio(http.rateRatio),
        `${http.raw.cpuUsPerReq.median.toFixed(1)} → ${http.weir.cpuUsPerReq.median.toFixed(1)}`,
        ratio(http.cpuRatio),
        `${http.raw.p99Ms.median} / ${http.weir.p99Ms.median}`,
        `CPU ≤ ${http.cpuTarget}×`,
        http.met ? "yes" : "**no**",
        "",
      ]
        .join(" | ")
        .trim(),
    );
  }
  if (sse !== undefined) {
    lines.push(
      [
        "",
        "6. SSE: raw eventsource client vs weir SSE route, bulkSize 1 (client CPU per event)",
        `${thousands(how.sseN)} events × ${how.reps}`,
        `${thousands(sse.raw.eventsPerSec.median)} events/s`,
        `${thousands(sse.weir.eventsPerSec.median)} events/s`,
        ratio(sse.rateRatio),
        `${sse.raw.cpuUsPerEvent.median.toFixed(2)} → ${sse.weir.cpuUsPerEvent.median.toFixed(2)}`,
        ratio(sse.cpuRatio),
        "–",
        `≥ ${sse.rateTarget}, CPU ≤ ${sse.cpuTarget}×`,
        sse.met ? "yes" : "**no**",
        "",
      ]
        .join(" | ")
        .trim(),
    );
  }
  lines.push(
    "",
    how.pinned
      ? "Measured side pinned to core 0, load generator / stream server to core 1 (taskset)."
      : "Not pinned (no taskset or a single core).",
  );
  return lines.join("\n");
}
