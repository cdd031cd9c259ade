import type { PairRun } from "./report.js";

/**
 * When a repetition counts as a clean comparison of the two clients, and which attempt to keep
 * when none is (docs/performance.md, "Reading the numbers on this machine").
 */

/** Other processes' CPU (cores) above which a repetition is repeated; see `otherLoad`. */
export const OTHER_LOAD_LIMIT = 0.15;
/**
 * Broker CPU per message of the two sides may differ by this factor at most for their ratio to
 * count. RabbitMQ 3.10 drains the same preloaded classic v2 queue in one of two modes, about 2×
 * apart in broker CPU per message and in msg/s, for raw amqplib and weir alike (see
 * docs/performance.md); a repetition whose sides drew different modes compares the modes, not the
 * clients.
 */
export const BROKER_MODE_LIMIT = 1.4;

/** The larger of the two sides' `otherCores` (0 when /proc is not readable). */
export function otherLoad(run: PairRun): number {
  return Math.max(run.raw.otherCores ?? 0, run.weir.otherCores ?? 0);
}

/** Broker CPU per message of the costlier side over the cheaper one (1 when not readable). */
function brokerModeSpread(run: PairRun): number {
  const raw = run.raw.brokerUsPerMsg;
  const weir = run.weir.brokerUsPerMsg;
  if (raw === null || weir === null || raw <= 0 || weir <= 0) return 1;
  return Math.max(raw, weir) / Math.min(raw, weir);
}

/** Why a repetition does not count as a clean comparison, or undefined when it does. */
export function disturbance(run: PairRun): string | undefined {
  if (otherLoad(run) > OTHER_LOAD_LIMIT) return "other processes loaded the machine";
  if (brokerModeSpread(run) > BROKER_MODE_LIMIT) return "the two sides drew different broker modes";
  return undefined;
}

/** Orders attempts of a repetition: clean first, then same broker mode, then least loaded. */
export function worse(a: PairRun, b: PairRun): boolean {
  const mode = (run: PairRun): number => (brokerModeSpread(run) > BROKER_MODE_LIMIT ? 1 : 0);
  if (mode(a) !== mode(b)) return mode(a) > mode(b);
  return otherLoad(a) > otherLoad(b);
}
