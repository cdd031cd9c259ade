/**
 * The SSE pair (issue #19): a weir SSE route (`bulkSize: 1`) against a raw `eventsource` client
 * (the client one would write by hand; weir drives its parser, `eventsource-parser`), each reading the same local stream of n events
 * (bench/runners/sse-server.ts, one process for the pair, pinned to one core) from a client process
 * of its own pinned to the other core; alternated raw, weir, raw, weir... Figures: events per second
 * and the client's CPU per event over the window (the last nine tenths of the stream).
 */

import { LineProcess } from "./line-process.js";
import { LOAD_CORE, MEASURED_CORE, pinned } from "./pinning.js";
import { type Spread, spread } from "./report.js";
import { runnerCommand } from "./runner-command.js";
import { expectedSum, type Side } from "./spec.js";

/** What a client prints (bench/runners/sse-client.ts). */
export interface SseClientResult {
  side: string;
  /** Events seen in all, and the sum of their ids. */
  count: number;
  sum: number;
  /** Events inside the window, and its length (ms) and the client's CPU over it (µs). */
  windowEvents: number;
  elapsedMs: number;
  cpuUs: number;
}

export interface SseOptions {
  reps: number;
  /** Events per stream. */
  n: number;
  compiled: string | undefined;
  profile: boolean;
}

export interface SseRun {
  side: Side;
  eventsPerSec: number;
  cpuUsPerEvent: number;
}

export interface SsePairRun {
  repetition: number;
  raw: SseRun;
  weir: SseRun;
  rateRatio: number;
  cpuRatio: number;
}

export interface SseSummary {
  raw: { eventsPerSec: Spread; cpuUsPerEvent: Spread };
  weir: { eventsPerSec: Spread; cpuUsPerEvent: Spread };
  rateRatio: Spread;
  cpuRatio: Spread;
  rateTarget: number;
  cpuTarget: number;
  met: boolean;
}

/** Issue #19: weir at least 0.95× raw's events/s, at most 1.1× its CPU per event. */
export const SSE_RATE_TARGET = 0.95;
export const SSE_CPU_TARGET = 1.1;

async function readStream(side: Side, base: string, options: SseOptions): Promise<SseRun> {
  const argv = pinned(
    MEASURED_CORE,
    runnerCommand("sse-client", [side, base, String(options.n)], {
      compiled: options.compiled,
      profile: options.profile,
    }),
  );
  const client = new LineProcess(argv, `the ${side} SSE client`);
  try {
    const result = JSON.parse(await client.next()) as SseClientResult;
    if (result.count !== options.n || result.sum !== expectedSum(options.n)) {
      throw new Error(
        `SSE pair ${side}: ${result.count} events with id sum ${result.sum}, expected ${options.n} and ${expectedSum(options.n)}`,
      );
    }
    return {
      side,
      eventsPerSec: result.windowEvents / (result.elapsedMs / 1000),
      cpuUsPerEvent: result.cpuUs / result.windowEvents,
    };
  } finally {
    await client.close();
  }
}

export async function runSsePair(
  options: SseOptions,
  log: (line: string) => void,
): Promise<{ runs: SsePairRun[]; summary: SseSummary }> {
  const server = new LineProcess(
    pinned(LOAD_CORE, runnerCommand("sse-server", [String(options.n)], { compiled: options.compiled })),
    "the SSE server",
  );
  try {
    const port = /^ready (\d+)$/.exec(await server.next())?.[1];
    if (port === undefined) throw new Error("the SSE server did not start");
    const base = `http://127.0.0.1:${port}`;
    const runs: SsePairRun[] = [];
    for (let repetition = 1; repetition <= options.reps; repetition++) {
      const raw = await readStream("raw", base, options);
      const weir = await readStream("weir", base, options);
      const run: SsePairRun = {
        repetition,
        raw,
        weir,
        rateRatio: weir.eventsPerSec / raw.eventsPerSec,
        cpuRatio: weir.cpuUsPerEvent / raw.cpuUsPerEvent,
      };
      runs.push(run);
      log(
        `sse rep ${repetition}/${options.reps}: raw ${Math.round(raw.eventsPerSec)} events/s ` +
          `${raw.cpuUsPerEvent.toFixed(2)} µs/event, weir ${Math.round(weir.eventsPerSec)} events/s ` +
          `${weir.cpuUsPerEvent.toFixed(2)} µs/event, ratio ${run.rateRatio.toFixed(3)}, CPU ratio ${run.cpuRatio.toFixed(3)}`,
      );
    }
    const of = (side: Side) => ({
      eventsPerSec: spread(runs.map((r) => r[side].eventsPerSec)),
      cpuUsPerEvent: spread(runs.map((r) => r[side].cpuUsPerEvent)),
    });
    const rateRatio = spread(runs.map((r) => r.rateRatio));
    const cpuRatio = spread(runs.map((r) => r.cpuRatio));
    return {
      runs,
      summary: {
        raw: of("raw"),
        weir: of("weir"),
        rateRatio,
        cpuRatio,
        rateTarget: SSE_RATE_TARGET,
        cpuTarget: SSE_CPU_TARGET,
        met: rateRatio.median >= SSE_RATE_TARGET && cpuRatio.median <= SSE_CPU_TARGET,
      },
    };
  } finally {
    await server.close();
  }
}
