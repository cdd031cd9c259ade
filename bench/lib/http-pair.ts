/**
 * The HTTP pair (issue #19): the same handler on a weir HTTP route and on bare fastify, each server
 * in its own process pinned to one core, loaded by autocannon in a separate process pinned to the
 * other core (bench/lib/pinning.ts). Both servers stay up for the whole pair; the load runs
 * alternate raw, weir, raw, weir... The primary figure is the server's CPU per request, read from
 * the server itself (`process.cpuUsage()`, every thread) just before and after each load run: on
 * a 2-core machine shared with the load generator it is steadier than req/s. req/s and p99 latency
 * come from autocannon.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { LineProcess } from "./line-process.js";
import { LOAD_CORE, MEASURED_CORE, pinned } from "./pinning.js";
import { type Spread, spread } from "./report.js";
import { runnerCommand } from "./runner-command.js";
import type { Side } from "./spec.js";

const run = promisify(execFile);

export interface HttpOptions {
  reps: number;
  /** Seconds of load per side and repetition. */
  seconds: number;
  /** autocannon's concurrent connections (no pipelining). */
  connections: number;
  /** Seconds of unmeasured load per server before the first repetition (JIT warm-up). */
  warmupSeconds: number;
  compiled: string | undefined;
  profile: boolean;
}

export interface HttpRun {
  side: Side;
  /** Requests autocannon completed in the run (all 2xx: a run with errors fails the pair). */
  requests: number;
  reqPerSec: number;
  /** autocannon's latency percentiles, ms. */
  p50Ms: number;
  p99Ms: number;
  /** Server CPU (user + system) over the run, per request. */
  cpuUsPerReq: number;
}

export interface HttpPairRun {
  repetition: number;
  raw: HttpRun;
  weir: HttpRun;
  /** weir ÷ raw of this repetition. */
  cpuRatio: number;
  rateRatio: number;
}

export interface HttpSummary {
  raw: { reqPerSec: Spread; p99Ms: Spread; cpuUsPerReq: Spread };
  weir: { reqPerSec: Spread; p99Ms: Spread; cpuUsPerReq: Spread };
  cpuRatio: Spread;
  rateRatio: Spread;
  cpuTarget: number;
  met: boolean;
}

/** Issue #19: weir's CPU per request at most 1.05× bare fastify's. */
export const HTTP_CPU_TARGET = 1.05;

const PATH = "/hello";

interface AutocannonJson {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

function autocannonBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("autocannon/package.json")), "autocannon.js");
}

async function startServer(side: Side, options: HttpOptions): Promise<{ process: LineProcess; url: string }> {
  const argv = pinned(
    MEASURED_CORE,
    runnerCommand("http-server", [side], { compiled: options.compiled, profile: options.profile }),
  );
  const server = new LineProcess(argv, `the ${side} HTTP server`);
  const ready = await server.next();
  const port = /^ready (\d+)$/.exec(ready)?.[1];
  if (port === undefined) throw new Error(`the ${side} HTTP server said ${JSON.stringify(ready)}`);
  return { process: server, url: `http://127.0.0.1:${port}${PATH}` };
}

async function serverCpuUs(server: LineProcess): Promise<number> {
  server.send("cpu");
  const usage = JSON.parse(await server.next()) as NodeJS.CpuUsage;
  return usage.user + usage.system;
}

/** One autocannon run against `url`, in its own process on the load core. */
async function load(url: string, seconds: number, connections: number): Promise<AutocannonJson> {
  const argv = pinned(LOAD_CORE, [
    process.execPath,
    autocannonBin(),
    ...["-c", String(connections), "-d", String(seconds), "--json"],
    url,
  ]);
  const { stdout } = await run(argv[0]!, argv.slice(1), { maxBuffer: 16 * 2 ** 20, timeout: 120_000 });
  return JSON.parse(stdout) as AutocannonJson;
}

async function measure(side: Side, server: { process: LineProcess; url: string }, options: HttpOptions) {
  const before = await serverCpuUs(server.process);
  const result = await load(server.url, options.seconds, options.connections);
  const after = await serverCpuUs(server.process);
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0 || result.requests.total === 0) {
    throw new Error(
      `HTTP pair ${side}: ${result.requests.total} requests, ${result.errors} errors, ` +
        `${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
    );
  }
  return {
    side,
    requests: result.requests.total,
    reqPerSec: result.requests.total / options.seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuUsPerReq: (after - before) / result.requests.total,
  } satisfies HttpRun;
}

export async function runHttpPair(
  options: HttpOptions,
  log: (line: string) => void,
): Promise<{ runs: HttpPairRun[]; summary: HttpSummary }> {
  const raw = await startServer("raw", options);
  let weir: { process: LineProcess; url: string } | undefined;
  try {
    weir = await startServer("weir", options);
    if (options.warmupSeconds > 0) {
      for (const server of [raw, weir]) await load(server.url, options.warmupSeconds, options.connections);
    }
    const runs: HttpPairRun[] = [];
    for (let repetition = 1; repetition <= options.reps; repetition++) {
      const rawRun = await measure("raw", raw, options);
      const weirRun = await measure("weir", weir, options);
      const pairRun: HttpPairRun = {
        repetition,
        raw: rawRun,
        weir: weirRun,
        cpuRatio: weirRun.cpuUsPerReq / rawRun.cpuUsPerReq,
        rateRatio: weirRun.reqPerSec / rawRun.reqPerSec,
      };
      runs.push(pairRun);
      log(
        `http rep ${repetition}/${options.reps}: raw ${Math.round(rawRun.reqPerSec)} req/s ` +
          `${rawRun.cpuUsPerReq.toFixed(1)} µs/req p99 ${rawRun.p99Ms} ms, weir ${Math.round(weirRun.reqPerSec)} ` +
          `req/s ${weirRun.cpuUsPerReq.toFixed(1)} µs/req p99 ${weirRun.p99Ms} ms, CPU ratio ` +
          `${pairRun.cpuRatio.toFixed(3)}`,
      );
    }
    return { runs, summary: summarizeHttp(runs) };
  } finally {
    await Promise.all([raw.process.close(), weir?.process.close()]);
  }
}

function summarizeHttp(runs: readonly HttpPairRun[]): HttpSummary {
  const of = (side: Side) => ({
    reqPerSec: spread(runs.map((r) => r[side].reqPerSec)),
    p99Ms: spread(runs.map((r) => r[side].p99Ms)),
    cpuUsPerReq: spread(runs.map((r) => r[side].cpuUsPerReq)),
  });
  const cpuRatio = spread(runs.map((r) => r.cpuRatio));
  return {
    raw: of("raw"),
    weir: of("weir"),
    cpuRatio,
    rateRatio: spread(runs.map((r) => r.rateRatio)),
    cpuTarget: HTTP_CPU_TARGET,
    met: cpuRatio.median <= HTTP_CPU_TARGET,
  };
}
