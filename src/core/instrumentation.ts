/**
 * The seam between transports and observability (metrics, tracing). Transports call it at a few
 * points per bulk, never per message on the hot path; the default does nothing and costs one call.
 * The App builds the real one (prom-client, @opentelemetry/api) from its options.
 */

/** How a message left weir's hands. */
export type SettleOutcome = "ack" | "reject" | "requeue" | "retry" | "dead-letter" | "dropped";

/** One handler call, as instrumentation sees it. */
export interface HandlerCall {
  readonly transport: string;
  readonly route: string;
  /** How many messages or events the handler receives. */
  readonly size: number;
  /**
   * Per message, the headers that may carry a propagated trace context (AMQP headers). Read only
   * when tracing is on.
   */
  carriers(): readonly (Readonly<Record<string, unknown>> | undefined)[];
}

/** One publish, as instrumentation sees it. */
export interface PublishCall {
  readonly transport: string;
  readonly destination: string;
}

export interface Instrumentation {
  /** Runs a handler call: measure it, put it in a span linked to its messages' contexts. */
  runHandler<T>(call: HandlerCall, run: () => Promise<T>): Promise<T>;
  /** `count` messages of `route` were settled with `outcome`. */
  settled(transport: string, route: string, outcome: SettleOutcome, count: number): void;
  /**
   * Runs a publish: `run` receives headers to merge into the message (a propagated trace context)
   * and resolves on the broker's confirm.
   */
  runPublish<T>(call: PublishCall, run: (headers: Record<string, string>) => Promise<T>): Promise<T>;
  /** A run of task `task` reached `status` (`submitted` by a producer, the others by a worker). */
  taskStatus(task: string, status: string): void;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Instrumentation that records nothing. */
export const noInstrumentation: Instrumentation = {
  runHandler: (_call, run) => run(),
  settled: () => {},
  runPublish: (_call, run) => run(NO_HEADERS),
  taskStatus: () => {},
};
