import {
  type HandlerCall,
  type Instrumentation,
  noInstrumentation,
  type PublishCall,
  type SettleOutcome,
} from "../core/instrumentation.js";
import type { WeirMetrics } from "./metrics.js";
import type { Tracing } from "./tracing.js";

/**
 * The seam's implementation: metrics, spans, or both. Transports call it once per bulk and once per
 * publish, never per message, so its cost is a few calls per bulk. With neither on, the App hands
 * transports `noInstrumentation` itself, which they recognise and skip entirely.
 */
export function createInstrumentation(
  metrics: WeirMetrics | undefined,
  tracing: Tracing | undefined,
): Instrumentation {
  if (metrics === undefined && tracing === undefined) return noInstrumentation;
  return {
    async runHandler<T>(call: HandlerCall, run: () => Promise<T>): Promise<T> {
      const done = metrics?.handlerStarted(call.transport, call.route, call.size);
      try {
        const result = await (tracing ? tracing.runHandler(call, run) : run());
        done?.(false);
        return result;
      } catch (error) {
        done?.(true);
        throw error;
      }
    },

    settled(transport: string, route: string, outcome: SettleOutcome, count: number): void {
      metrics?.settled(transport, route, outcome, count);
    },

    taskStatus(task: string, status: string): void {
      metrics?.taskStatus(task, status);
    },

    async runPublish<T>(call: PublishCall, run: (headers: Record<string, string>) => Promise<T>): Promise<T> {
      const started = performance.now();
      try {
        const result = await (tracing ? tracing.runPublish(call, run) : run({}));
        metrics?.publishEnded(call.transport, call.destination, (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        metrics?.publishEnded(call.transport, call.destination, (performance.now() - started) / 1000, error);
        throw error;
      }
    },
  };
}
