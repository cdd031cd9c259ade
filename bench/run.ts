/**
 * weir vs raw amqplib, side by side, against the local RabbitMQ (`npm run bench`).
 *
 *   npm run bench                    the full comparison (5–10 min): the AMQP pairs × 7 repetitions, the
 *                                    HTTP and SSE pairs (5 and 6, bench/lib/http-pair.ts, sse-pair.ts),
 *                                    and the memory run
 *   npm run bench:smoke              small n, 1 repetition, no memory run; exits non-zero on a bad count
 *   npm run bench -- --pairs 1 --reps 7 --n 50000 --profile
 *
 * Every run gets its own durable classic v2 queue, preloaded with n persistent ~100-byte JSON
 * messages (ids 1..n) under publisher confirms; the runner (a child process, one per side and
 * repetition) consumes them, and this process checks the count, the id sum and that nothing is left,
 * then deletes the queue. Pairs alternate raw, weir, raw, weir... so drift hits both sides alike.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BenchBroker } from "./lib/broker.js";
import { Disturbed, killRunners, PROFILE_DIR, startChild } from "./lib/child.js";
import { compileRunners } from "./lib/compile.js";
import { type HttpPairRun, type HttpSummary, runHttpPair } from "./lib/http-pair.js";
import { killLineProcesses } from "./lib/line-process.js";
import { canPin } from "./lib/pinning.js";
import { clockTicks, findBeamPid, waitForQuiet } from "./lib/proc.js";
import { BROKER_MODE_LIMIT, disturbance, OTHER_LOAD_LIMIT, otherLoad, worse } from "./lib/repetition.js";
import {
  type MemoryRun,
  markdownTable,
  type PairDefinition,
  type PairRun,
  type PairSummary,
  summarize,
} from "./lib/report.js";
import { expectedSum, type RunResult, type RunSpec, type Side } from "./lib/spec.js";
import { runSsePair, type SsePairRun, type SseSummary } from "./lib/sse-pair.js";
import { transportTable } from "./lib/transport-report.js";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

interface Args {
  smoke: boolean;
  reps: number;
  /** Overrides every pair's n. */
  n: number | undefined;
  pairs: number[];
  memory: boolean;
  memoryN: number;
  profile: boolean;
  out: string | undefined;
  /** Fixed pause after a preload, before waiting for a quiet machine (ms). */
  settleMs: number;
  /** Run the runners through tsx instead of compiled (the default of `--smoke`). */
  tsx: boolean;
  /** HTTP pair: seconds of load per side and repetition, and autocannon's connections. */
  httpSeconds: number;
  httpConnections: number;
  /** SSE pair: events per stream. */
  sseN: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    smoke: false,
    reps: 7,
    n: undefined,
    pairs: [1, 2, 3, 4, 5, 6],
    memory: true,
    memoryN: 1_000_000,
    profile: false,
    out: undefined,
    settleMs: 0,
    tsx: false,
    httpSeconds: 3,
    httpConnections: 10,
    sseN: 100_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    if (flag === "--smoke") args.smoke = true;
    else if (flag === "--reps") args.reps = Number(value());
    else if (flag === "--n") args.n = Number(value());
    else if (flag === "--pairs") args.pairs = value().split(",").map(Number);
    else if (flag === "--no-memory") args.memory = false;
    else if (flag === "--memory-n") args.memoryN = Number(value());
    else if (flag === "--profile") args.profile = true;
    else if (flag === "--tsx") args.tsx = true;
    else if (flag === "--out") args.out = value();
    else if (flag === "--settle") args.settleMs = Number(value());
    else if (flag === "--http-seconds") args.httpSeconds = Number(value());
    else if (flag === "--http-connections") args.httpConnections = Number(value());
    else if (flag === "--sse-n") args.sseN = Number(value());
    else throw new Error(`unknown flag ${flag}`);
  }
  if (args.smoke) {
    args.reps = 1;
    args.n ??= 2000;
    args.memory = false;
    args.httpSeconds = 1;
    args.sseN = 5000;
  }
  return args;
}

interface PairPlan extends PairDefinition {
  n: number;
  spec: (side: Side, queue: string, n: number) => RunSpec;
}

const beamPid = findBeamPid();
const ticks = clockTicks();

const PAIRS: PairPlan[] = [
  {
    id: 1,
    name: "per-message",
    raw: "raw prefetch 100, ack each",
    weir: "weir bulkSize 1, prefetch 100",
    // Issue #19: coalesced acks make a per-message handler cheaper for the broker than acking each.
    target: 1.3,
    cpuTarget: 1.0,
    consume: true,
    n: 50_000,
    spec: (side, queue, n) => ({
      mode: "consume",
      side,
      queue,
      n,
      prefetch: 100,
      batch: 1,
      beamPid,
      clockTicks: ticks,
    }),
  },
  {
    id: 2,
    name: "bulk",
    raw: "raw prefetch 1000, ack(multiple) every 100",
    weir: "weir bulkSize 100, prefetch 1000",
    target: 1.0,
    consume: true,
    n: 100_000,
    spec: (side, queue, n) => ({
      mode: "consume",
      side,
      queue,
      n,
      prefetch: 1000,
      batch: 100,
      beamPid,
      clockTicks: ticks,
    }),
  },
  {
    id: 4,
    name: "per-message vs batched",
    raw: "raw prefetch 1000, ack(multiple) every 100",
    weir: "weir bulkSize 1, prefetch 100",
    // Issue #19: a plain per-message handler comes within 0.9x of a hand-batched raw client.
    target: 0.9,
    consume: true,
    acksBound: false,
    n: 100_000,
    spec: (side, queue, n) => ({
      mode: "consume",
      side,
      queue,
      n,
      prefetch: side === "raw" ? 1000 : 100,
      batch: side === "raw" ? 100 : 1,
      beamPid,
      clockTicks: ticks,
    }),
  },
  {
    id: 3,
    name: "publish",
    raw: "raw confirm channel, window 1000",
    weir: "app.amqp.publish, window 1000",
    // Issue #19: publishing pipelined through weir at least as fast as a raw confirm channel.
    target: 1.0,
    consume: false,
    n: 50_000,
    spec: (side, queue, n) => ({ mode: "publish", side, queue, n, window: 1000, beamPid, clockTicks: ticks }),
  },
];

/** Issue #19: draining 1,000,000 messages peaks under this. */
const MEMORY_LIMIT_MB = 80;
const MAX_ATTEMPTS = 3;
/**
 * Time each pair may spend on repeated repetitions; past it, the best attempt so far is kept.
 * Keeps `npm run bench` under ~10 minutes however busy the machine is.
 */
const REPEAT_BUDGET_MS = 100_000;

class CheckFailed extends Error {}

interface RunOptions {
  profile: boolean;
  /** Where the compiled runners are (bench/lib/compile.ts); undefined: through tsx. */
  compiled: string | undefined;
  /** How long a run may wait for the broker and the machine to quiet down before it starts. */
  quietMaxMs: number;
  settleMs: number;
}

/**
 * One side of one repetition. A run voided from outside (its channel closed under it, or the
 * broker went away and came back) is repeated, twice at most, on a fresh connection if need be.
 */
async function runSide(
  broker: BenchBroker,
  plan: PairPlan,
  side: Side,
  n: number,
  options: RunOptions,
): Promise<RunResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      await broker.ensureOpen();
      return await runOnce(broker, plan, side, n, options);
    } catch (error) {
      if (!(error instanceof Disturbed || broker.lost) || broker.closed || attempt === 3) throw error;
      console.error(`  pair ${plan.id} ${side}: ${(error as Error).message}; running it again`);
    }
  }
}

/** One side of one repetition: fresh queue, preload, run, check, delete. */
async function runOnce(broker: BenchBroker, plan: PairPlan, side: Side, n: number, options: RunOptions) {
  const queue = await broker.createQueue(`p${plan.id}.${side}`);
  try {
    const spec = plan.spec(side, queue, n);
    // The runner loads its modules while the queue fills; it starts once the broker has settled.
    const child = startChild(spec, options.profile, options.compiled);
    try {
      if (spec.mode === "consume") await broker.preload(queue, n);
      if (options.settleMs > 0) await new Promise((resolve) => setTimeout(resolve, options.settleMs));
      if (options.quietMaxMs > 0) await waitForQuiet(beamPid, ticks, { maxMs: options.quietMaxMs });
    } catch (error) {
      // The preload failed (the broker went away): a runner left waiting would keep us alive.
      child.kill();
      throw error;
    }
    child.go();
    const result = await child.result;
    const problems: string[] = [];
    if (result.count !== n) problems.push(`count ${result.count} ≠ ${n}`);
    if (result.sum !== expectedSum(n)) problems.push(`id sum ${result.sum} ≠ ${expectedSum(n)}`);
    const left = await broker.count(queue);
    if (spec.mode === "consume") {
      // Anything left means an ack never reached the broker (the runner's close requeues it).
      if (left !== 0) problems.push(`${left} messages left unacked on the queue`);
    } else {
      if (left !== n) problems.push(`${left} messages on the queue after publishing ${n}`);
      const drained = await broker.drain(queue, n);
      if (drained.sum !== expectedSum(n)) problems.push(`queued id sum ${drained.sum} ≠ ${expectedSum(n)}`);
    }
    if (problems.length > 0) throw new CheckFailed(`pair ${plan.id} ${side}: ${problems.join("; ")}`);
    if (options.profile) {
      const file = readdirSync(PROFILE_DIR).find((name) => name.includes(`.${result.pid}.0.`));
      console.error(
        `  profile of ${side}: npx tsx bench/profile.ts ${join(PROFILE_DIR, file ?? "?")} ${result.windowUs.join(":")}`,
      );
    }
    return result;
  } finally {
    // If the connection is gone, the queue stays on the list and close() deletes it at the end.
    await broker.deleteQueue(queue).catch(() => {});
  }
}

function versions(broker: BenchBroker): Record<string, string> {
  const read = (path: string): string =>
    (JSON.parse(readFileSync(join(ROOT, path), "utf8")) as { version: string }).version;
  const server = broker.serverVersion;
  return {
    node: process.version,
    weir: read("package.json"),
    amqplib: read("node_modules/amqplib/package.json"),
    broker: `${server.product} ${server.version}`,
    erlang: server.platform,
  };
}

function machine(): Record<string, string | number> {
  const list = cpus();
  return {
    cpu: list[0]?.model ?? "unknown",
    cores: list.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()} ${arch()}`,
  };
}

const fmt = (value: number): string => Math.round(value).toLocaleString("en-US");

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const broker = await BenchBroker.connect();
  const info = versions(broker);
  // Interrupted (Ctrl-C, a CI timeout): end the runner and delete this run's queues before leaving.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killRunners();
      killLineProcesses();
      void broker.close().finally(() => process.exit(130));
    });
  }
  const started = Date.now();
  const results: Array<{ pair: PairDefinition; n: number; runs: PairRun[]; summary: PairSummary }> = [];
  let memory: MemoryRun | undefined;
  let http: { runs: HttpPairRun[]; summary: HttpSummary } | undefined;
  let sse: { runs: SsePairRun[]; summary: SseSummary } | undefined;
  let failure: Error | undefined;
  let repeated = 0;
  // Smoke mode checks correctness, not speed: no waiting for a quiet machine, no repeats.
  const options: RunOptions = {
    profile: args.profile,
    // Smoke mode checks counts, fast: tsx, no compile step.
    compiled: args.tsx || args.smoke ? undefined : compileRunners(ROOT),
    quietMaxMs: args.smoke ? 0 : 5000,
    settleMs: args.settleMs,
  };
  const attempts = args.smoke ? 1 : MAX_ATTEMPTS;
  try {
    for (const plan of PAIRS.filter((pair) => args.pairs.includes(pair.id))) {
      const n = args.n ?? plan.n;
      const runs: PairRun[] = [];
      let repeatMs = 0;
      for (let repetition = 1; repetition <= args.reps; repetition++) {
        // A repetition during which other processes took a real share of the two cores, or whose
        // two sides drew different broker modes, measures those, not the clients: it is run again
        // (both sides), a few times at most and within the time budget; the best attempt is kept.
        let kept: PairRun | undefined;
        for (let attempt = 1; attempt <= attempts; attempt++) {
          const attemptStarted = Date.now();
          const raw = await runSide(broker, plan, "raw", n, options);
          const weir = await runSide(broker, plan, "weir", n, options);
          const run: PairRun = { repetition, raw, weir, ratio: weir.msgPerSec / raw.msgPerSec };
          const beam = (result: RunResult): string => result.brokerUsPerMsg?.toFixed(1) ?? "n/a";
          console.error(
            `pair ${plan.id} rep ${repetition}/${args.reps}: raw ${fmt(raw.msgPerSec)} msg/s ` +
              `${raw.cpuUsPerMsg.toFixed(1)} µs/msg (broker ${beam(raw)}), weir ${fmt(weir.msgPerSec)} ` +
              `msg/s ${weir.cpuUsPerMsg.toFixed(1)} µs/msg (broker ${beam(weir)}), ratio ` +
              `${run.ratio.toFixed(3)}, other load ${otherLoad(run).toFixed(2)} cores`,
          );
          if (kept === undefined || worse(kept, run)) kept = run;
          const reason = disturbance(run);
          if (attempt > 1) repeatMs += Date.now() - attemptStarted;
          if (reason === undefined || repeatMs > REPEAT_BUDGET_MS) break;
          if (attempt < attempts) {
            repeated++;
            console.error(`  ${reason}; running this repetition again`);
          }
        }
        runs.push(kept!);
      }
      const { spec: _spec, n: _n, ...pair } = plan;
      results.push({ pair, n, runs, summary: summarize(pair, runs) });
    }
    const log = (line: string): void => console.error(line);
    if (args.pairs.includes(5)) {
      http = await runHttpPair(
        {
          reps: args.reps,
          seconds: args.httpSeconds,
          connections: args.httpConnections,
          // Smoke mode checks that every request is answered, not speed: no warm-up.
          warmupSeconds: args.smoke ? 0 : 2,
          compiled: options.compiled,
          profile: args.profile,
        },
        log,
      );
    }
    if (args.pairs.includes(6)) {
      sse = await runSsePair(
        { reps: args.reps, n: args.sseN, compiled: options.compiled, profile: args.profile },
        log,
      );
    }
    if (args.memory) {
      const plan = PAIRS[1]!;
      console.error(`memory run: preloading ${fmt(args.memoryN)} messages...`);
      const result = await runSide(broker, plan, "weir", args.memoryN, { ...options, profile: false });
      // The same drain by the raw client: how much of the peak is Node's (its heap's young
      // generation fills at this allocation rate whoever allocates) rather than weir's.
      console.error(`memory run (raw amqplib): preloading ${fmt(args.memoryN)} messages...`);
      const raw = await runSide(broker, plan, "raw", args.memoryN, { ...options, profile: false });
      memory = {
        n: args.memoryN,
        bulkSize: 100,
        prefetch: 1000,
        result,
        raw,
        limitMb: MEMORY_LIMIT_MB,
        met: result.peakRssMb < MEMORY_LIMIT_MB,
      };
    }
  } catch (error) {
    failure = error as Error;
  } finally {
    await broker.close();
  }
  const table = markdownTable(
    results.map(({ pair, n, runs, summary }) => ({ pair, n, reps: runs.length, summary })),
    memory,
  );
  console.log(table);
  const transports = transportTable(http?.summary, sse?.summary, {
    reps: args.reps,
    httpSeconds: args.httpSeconds,
    httpConnections: args.httpConnections,
    sseN: args.sseN,
    pinned: canPin(),
  });
  if (transports !== "") console.log(`\n${transports}`);
  const seconds = Math.round((Date.now() - started) / 1000);
  console.log(
    `\n${args.reps} repetition(s) per pair; ${repeated} repeated because other processes loaded the ` +
      `machine (over ${OTHER_LOAD_LIMIT} cores) or the sides' broker modes differed (over ` +
      `${BROKER_MODE_LIMIT}×); ${seconds} s; broker CPU ${beamPid ? "from /proc" : "n/a"}`,
  );
  if (failure) {
    console.error(`\nbench FAILED: ${failure.message}`);
    return 1;
  }
  if (!args.smoke || args.out) {
    const file = args.out ?? join(ROOT, "bench", "results", `${new Date().toISOString().slice(0, 10)}.json`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: machine(),
          versions: info,
          args,
          pairs: results,
          repeated,
          memory,
          http,
          sse,
          table,
          transports,
        },
        null,
        2,
      )}\n`,
    );
    console.error(`results written to ${file}`);
  }
  return 0;
}

process.exitCode = await main();
