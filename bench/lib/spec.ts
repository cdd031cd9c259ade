/**
 * What the orchestrator (`bench/run.ts`) and the child-process runners agree on: the run spec a
 * child receives, the result it prints, and the message bodies both sides publish and decode.
 */

export const BENCH_URL = process.env.WEIR_BENCH_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/**
 * weir's `amqp.noDelay` in the weir runners: its default (`true`), or `false` with
 * WEIR_BENCH_NODELAY=0, to tell what TCP_NODELAY changes from what weir's code does (the raw
 * runners keep amqplib's socket, Nagle's algorithm on).
 */
export const WEIR_NO_DELAY = process.env.WEIR_BENCH_NODELAY !== "0";

/** Every queue the harness creates starts with this, so it deletes nothing it did not create. */
export const QUEUE_PREFIX = "weir-bench.";

/**
 * Classic queues v2: on RabbitMQ 3.10, v1 queues switch between two speeds depending on how much of
 * the queue is paged out, which makes side-by-side comparisons noisy.
 */
export const QUEUE_ARGUMENTS = { "x-queue-version": 2 } as const;

/** Both sides publish with these properties, so deliveries are byte-for-byte the same. */
export const PUBLISH_PROPERTIES = { persistent: true, contentType: "application/json" } as const;

/**
 * What the raw side's measured publishes send: weir publishes `mandatory` by default (a message
 * no queue takes is returned, not dropped), so both sides ask the broker for the same work.
 */
export const MEASURED_PUBLISH_PROPERTIES = { ...PUBLISH_PROPERTIES, mandatory: true } as const;

/** The marker line a runner prints its result on; everything else on stdout is ignored. */
export const RESULT_MARK = "WEIR_BENCH_RESULT ";

/** Exit code of a run voided by something outside it; the orchestrator repeats such a run. */
export const DISTURBED_EXIT_CODE = 4;

export type Side = "raw" | "weir";

export interface ConsumeSpec {
  mode: "consume";
  side: Side;
  queue: string;
  /** Messages preloaded on the queue; ids are 1..n. */
  n: number;
  prefetch: number;
  /** weir: the route's bulkSize. raw: ack every `batch` messages with `multiple` (1: ack each). */
  batch: number;
  /** /proc pid of the broker's beam.smp, when readable. */
  beamPid: number | undefined;
  clockTicks: number;
}

export interface PublishSpec {
  mode: "publish";
  side: Side;
  queue: string;
  n: number;
  /** Unconfirmed publishes in flight at most. */
  window: number;
  beamPid: number | undefined;
  clockTicks: number;
}

export type RunSpec = ConsumeSpec | PublishSpec;

export interface RunResult {
  side: Side;
  /** Messages the runner consumed (or got confirmed) and the sum of their ids. */
  count: number;
  sum: number;
  /** First delivery → last ack (consume), first publish → last confirm (publish). */
  elapsedMs: number;
  msgPerSec: number;
  /** Client CPU (user + system, all threads) over the same window, per message. */
  cpuUsPerMsg: number;
  /** Broker CPU (beam.smp utime + stime) over the same window, per message; null if unreadable. */
  brokerUsPerMsg: number | null;
  /** Peak resident set size of the runner process over its whole life. */
  peakRssMb: number;
  /** RSS with every module loaded, before connecting: Node, tsx and (for weir) weir's modules. */
  startRssMb: number;
  /**
   * The window on the monotonic clock (µs), the clock V8's CPU profiles use: `bench/profile.ts`
   * keeps only the samples inside it.
   */
  windowUs: [number, number];
  /** The runner's pid: `--cpu-prof` names its profile after it. */
  pid: number;
  /** Consume runs: `basic.ack` frames sent, a `multiple` ack counting once. */
  ackFrames: number;
  /**
   * CPU the rest of the machine used during the window, in cores (machine busy time minus this
   * runner's and the broker's); null without /proc. High values mean a contended, noisy run.
   */
  otherCores: number | null;
  /** The user-space part of `cpuUsPerMsg` (the rest is kernel time: syscalls, network stack). */
  cpuUserUsPerMsg: number;
  /** Read and write syscalls per 1000 messages in the window: how the I/O was batched. */
  readsPerK: number | null;
  writesPerK: number | null;
}

/** Roughly 100 bytes of JSON, like a small domain event. */
export function benchBody(id: number): { id: number; type: string; at: string; payload: string } {
  return { id, type: "order.created", at: "2024-05-01T12:00:00.000Z", payload: "x".repeat(20) };
}

/** Sum of the ids 1..n, what a complete run must have seen. */
export function expectedSum(n: number): number {
  return (n * (n + 1)) / 2;
}
