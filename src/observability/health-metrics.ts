import type { Registry } from "prom-client";
import type { AppHealth } from "../core/application.js";
import type { RouteHealth } from "../core/transport.js";
import { promClient } from "./libraries.js";

/** A route's state as `app.health()` reports it, for the gauges read at scrape time. */
export interface RouteState {
  readonly transport: string;
  readonly route: RouteHealth;
}

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** `lastDeliveryAt` (AMQP) or `lastEventAt` (SSE), an ISO date or null, as ms since the epoch. */
function lastDelivery(route: RouteHealth): number | undefined {
  const at = route.lastDeliveryAt ?? route.lastEventAt;
  if (typeof at !== "string") return undefined;
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * One `app.health()` per scrape, shared by every gauge: prom-client runs every metric's `collect`
 * in one synchronous pass, so the snapshot is dropped on the next turn of the event loop.
 */
export class HealthSnapshot {
  private cached: AppHealth | undefined;

  constructor(private readonly health: () => AppHealth) {}

  current(): AppHealth {
    if (this.cached === undefined) {
      this.cached = this.health();
      setImmediate(() => {
        this.cached = undefined;
      });
    }
    return this.cached;
  }

  *routes(): Iterable<RouteState> {
    for (const transport of this.current().transports) {
      for (const route of transport.routes) yield { transport: transport.transport, route };
    }
  }
}

/**
 * The metrics that mirror state: read from `app.health()` when Prometheus scrapes, so the hot path
 * pays nothing for them and they can never drift from what `/ready` says.
 */
export function registerHealthMetrics(p: string, registers: Registry[], snapshot: HealthSnapshot): void {
  const { Counter, Gauge } = promClient();
  new Gauge({
    name: `${p}messages_in_flight`,
    help: "Messages received and not settled yet: buffered, waiting for a slot, or in a handler.",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      for (const { transport, route } of snapshot.routes()) {
        const value = finite(route.inFlight);
        if (value !== undefined) this.set({ transport, route: route.name }, value);
      }
    },
  });
  new Gauge({
    name: `${p}time_since_last_delivery_seconds`,
    help: "Seconds since the route last received a message or event; absent until the first one.",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const { transport, route } of snapshot.routes()) {
        const at = lastDelivery(route);
        if (at !== undefined) this.set({ transport, route: route.name }, Math.max(0, now - at) / 1000);
      }
    },
  });
  new Counter({
    name: `${p}reconnects_total`,
    help: "Reconnections of the route's connection (AMQP: its vhost's connection; SSE: its streams).",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      for (const { transport, route } of snapshot.routes()) {
        const value = finite(route.reconnects);
        if (value !== undefined) this.inc({ transport, route: route.name }, value);
      }
    },
  });
  new Counter({
    name: `${p}reattachments_total`,
    help: "Times an AMQP route re-opened its channel and consumed again (after a reconnect or a channel error).",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      for (const { transport, route } of snapshot.routes()) {
        const value = finite(route.reattachments);
        if (value !== undefined) this.inc({ transport, route: route.name }, value);
      }
    },
  });
  new Counter({
    name: `${p}consumer_timeouts_total`,
    help: "Times the broker closed an AMQP route's channel because a delivery outlived its consumer_timeout.",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      for (const { transport, route } of snapshot.routes()) {
        const value = finite(route.consumerTimeouts);
        if (value !== undefined) this.inc({ transport, route: route.name }, value);
      }
    },
  });
  new Counter({
    name: `${p}stop_abandoned_total`,
    help: "Waits of stop() abandoned at the shutdown deadline (a close the broker did not answer, handlers still running), by route.",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      for (const { transport, route } of snapshot.routes()) {
        const value = finite(route.stopAbandoned);
        if (value !== undefined) this.inc({ transport, route: route.name }, value);
      }
    },
  });
  new Gauge({
    name: `${p}route_ready`,
    help: "1 when the route is attached and receiving work, else 0.",
    labelNames: ["transport", "route"],
    registers,
    collect() {
      this.reset();
      for (const { transport, route } of snapshot.routes()) {
        this.set({ transport, route: route.name }, route.ready ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: `${p}ready`,
    help: "1 when the app is running and every route is ready (what /ready answers 200 to), else 0.",
    registers,
    collect() {
      this.set(snapshot.current().ready ? 1 : 0);
    },
  });
}
