import type { RunResult } from "./spec.js";

export interface PairDefinition {
  id: number;
  name: string;
  /** What the raw side does, and what the weir side does, in words for the table. */
  raw: string;
  weir: string;
  /** weir/raw msg/s the pair must reach (median of the per-repetition ratios). */
  target: number;
  /** weir/raw client CPU per message the pair must stay under, if the spec sets one. */
  cpuTarget?: number;
  /** A consume pair (acks are counted), not a publish pair. */
  consume: boolean;
  /**
   * Whether weir may send no more ack frames than raw (the sides settle the same way). False for a
   * pair whose raw side batches its acks by hand at a wider prefetch than weir's.
   * @defaultValue true
   */
  acksBound?: boolean;
}

export interface PairRun {
  repetition: number;
  raw: RunResult;
  weir: RunResult;
  /** weir msg/s ÷ raw msg/s of this repetition. */
  ratio: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface PairSummary {
  rawMsgPerSec: Spread;
  weirMsgPerSec: Spread;
  ratio: Spread;
  rawCpuUsPerMsg: Spread;
  weirCpuUsPerMsg: Spread;
  /** weir CPU µs/msg ÷ raw CPU µs/msg, of the medians. */
  cpuRatio: number;
  rawBrokerUsPerMsg: Spread | null;
  weirBrokerUsPerMsg: Spread | null;
  rawPeakRssMb: number;
  weirPeakRssMb: number;
  /** Ack frames per 1000 messages (median): weir must not send more than raw. */
  rawAcksPerK: number;
  weirAcksPerK: number;
  /** Other processes' CPU during the kept runs (cores, the larger of the two sides). */
  otherCores: Spread;
  met: boolean;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? Number.NaN)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN };
}

function brokerSpread(results: readonly RunResult[]): Spread | null {
  const values = results.map((result) => result.brokerUsPerMsg);
  if (values.some((value) => value === null)) return null;
  return spread(values as number[]);
}

export function summarize(pair: PairDefinition, runs: readonly PairRun[]): PairSummary {
  const raw = runs.map((run) => run.raw);
  const weir = runs.map((run) => run.weir);
  const rawCpu = spread(raw.map((result) => result.cpuUsPerMsg));
  const weirCpu = spread(weir.map((result) => result.cpuUsPerMsg));
  const ratio = spread(runs.map((run) => run.ratio));
  const cpuRatio = weirCpu.median / rawCpu.median;
  const rawAcks = spread(raw.map((result) => (1000 * result.ackFrames) / result.count)).median;
  const weirAcks = spread(weir.map((result) => (1000 * result.ackFrames) / result.count)).median;
  return {
    rawMsgPerSec: spread(raw.map((result) => result.msgPerSec)),
    weirMsgPerSec: spread(weir.map((result) => result.msgPerSec)),
    ratio,
    rawCpuUsPerMsg: rawCpu,
    weirCpuUsPerMsg: weirCpu,
    cpuRatio,
    rawBrokerUsPerMsg: brokerSpread(raw),
    weirBrokerUsPerMsg: brokerSpread(weir),
    rawPeakRssMb: Math.max(...raw.map((result) => result.peakRssMb)),
    weirPeakRssMb: Math.max(...weir.map((result) => result.peakRssMb)),
    rawAcksPerK: rawAcks,
    weirAcksPerK: weirAcks,
    otherCores: spread(runs.map((run) => Math.max(run.raw.otherCores ?? 0, run.weir.otherCores ?? 0))),
    met:
      ratio.median >= pair.target &&
      (pair.cpuTarget === undefined || cpuRatio <= pair.cpuTarget) &&
      // Settling with more frames than the raw client would be a regression, whatever the speed.
      (!pair.consume || pair.acksBound === false || weirAcks <= rawAcks),
  };
}

const thousands = (value: number): string => Math.round(value).toLocaleString("en-US");
const fixed = (value: number, digits = 2): string => value.toFixed(digits);
const brokerCell = (value: Spread | null): string => (value === null ? "n/a" : fixed(value.median, 1));

export interface MemoryRun {
  n: number;
  bulkSize: number;
  prefetch: number;
  result: RunResult;
  /** The raw client draining as many (prefetch 1000, `ack(multiple)` every 100): what Node alone holds. */
  raw: RunResult | undefined;
  limitMb: number;
  met: boolean;
}

/** The table printed at the end of a run and pasted into docs/performance.md. */
export function markdownTable(
  pairs: ReadonlyArray<{ pair: PairDefinition; n: number; reps: number; summary: PairSummary }>,
  memory: MemoryRun | undefined,
): string {
  const lines = [
    "| pair | n × reps | raw msg/s | weir msg/s | weir/raw median (min–max) | target | client CPU µs/msg raw → weir (ratio) | broker CPU µs/msg raw → weir | ack frames per 1k raw / weir | peak RSS MB raw / weir | other load (cores) | met |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const { pair, n, reps, summary: s } of pairs) {
    const target = `≥ ${pair.target}${pair.cpuTarget === undefined ? "" : `, CPU ≤ ${pair.cpuTarget}×`}`;
    lines.push(
      [
        "",
        `${pair.id}. ${pair.name}: ${pair.raw} vs ${pair.weir}`,
        `${thousands(n)} × ${reps}`,
        thousands(s.rawMsgPerSec.median),
        thousands(s.weirMsgPerSec.median),
        `**${fixed(s.ratio.median)}** (${fixed(s.ratio.min)}–${fixed(s.ratio.max)})`,
        target,
        `${fixed(s.rawCpuUsPerMsg.median, 1)} → ${fixed(s.weirCpuUsPerMsg.median, 1)} (${fixed(s.cpuRatio)}×)`,
        `${brokerCell(s.rawBrokerUsPerMsg)} → ${brokerCell(s.weirBrokerUsPerMsg)}`,
        pair.consume ? `${fixed(s.rawAcksPerK, 0)} / ${fixed(s.weirAcksPerK, 0)}` : "–",
        `${fixed(s.rawPeakRssMb, 0)} / ${fixed(s.weirPeakRssMb, 0)}`,
        `${fixed(s.otherCores.median)} (max ${fixed(s.otherCores.max)})`,
        s.met ? "yes" : "**no**",
        "",
      ]
        .join(" | ")
        .trim(),
    );
  }
  if (memory) {
    const r = memory.result;
    lines.push(
      "",
      `Memory run: weir drained ${thousands(memory.n)} messages (bulkSize ${memory.bulkSize}, prefetch ${memory.prefetch}) at ${thousands(r.msgPerSec)} msg/s; peak RSS **${fixed(r.peakRssMb, 0)} MB** (limit ${memory.limitMb} MB), of which ${fixed(r.startRssMb, 0)} MB before the first message (Node and weir's modules): ${memory.met ? "met" : "**not met**"}.${
        memory.raw === undefined
          ? ""
          : ` Raw amqplib draining as many: peak ${fixed(memory.raw.peakRssMb, 0)} MB, ${fixed(memory.raw.startRssMb, 0)} MB before the first message, ${thousands(memory.raw.msgPerSec)} msg/s.`
      }`,
    );
  }
  return lines.join("\n");
}
