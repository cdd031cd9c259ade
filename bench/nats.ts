/**
 * NATS JetStream consuming: weir (a `nats` route) beside a hand-written @nats-io/jetstream
 * pull-consume loop doing the same work, alternated raw, weir, raw, weir... Each repetition gets
 * a fresh stream preloaded with `--n` ~100-byte JSON messages (ids 1..n, every publish acked) and
 * a durable consumer of its own per side; each side, in its own process, pulls `--prefetch`
 * messages at a time (max_ack_pending = prefetch), parses each body as JSON, hands them over in
 * batches of `--bulk` (the same `min(bulk, prefetch)`), sums their ids, and acks each message
 * (JetStream has no multiple ack). Time and CPU are counted from the hand-over that completes the
 * first `--warmup` messages to the last ack (connecting, creating the consumer, loading modules and
 * the JIT's warm-up are left out: steady state); the orchestrator then checks the id sum and that
 * the consumer holds nothing. Before each side it waits for the server to go quiet (the preload
 * leaves it writing), and each side reports nats-server's CPU per message in its window too
 * (/proc): how the client answers changes the server's work.
 *
 * 100,000 messages, the first 20,000 of them warm-up, by default (about a second a side timed):
 * with 20,000 and no warm-up the window was mostly the JIT warming up, and weir has more code to
 * warm than the raw loop.
 *
 *   npx tsx bench/nats.ts [--n 100000] [--warmup 20000] [--bulk 100] [--prefetch 500] [--reps 3]
 *                         [--out FILE] [--profile DIR]
 *
 * Prints a table and writes bench/results/<date>-nats.json (or FILE). With `--profile`, each child
 * writes a V8 CPU profile to DIR (`<side>-<rep>.cpuprofile`) and its timed window is printed, for
 * `npx tsx bench/profile.ts DIR/weir-1.cpuprofile START:END`. Needs nats-server -js on
 * 127.0.0.1:4222 (WEIR_NATS_URL points elsewhere). Streams are named `weir_bench_*` and deleted.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { cpus, loadavg, release } from "node:os";
import { dirname } from "node:path";
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { AckPolicy, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pino from "pino";
import { App, type NATSMessage, RouteTypes } from "../src/index.js";
import { clockTicks, findNATSServerPid, readCpuTicks, readSyscalls, waitForQuiet } from "./lib/proc.js";

const SERVER = process.env.WEIR_NATS_URL ?? "127.0.0.1:4222";

interface SideResult {
  readonly side: "raw" | "weir";
  readonly n: number;
  readonly ms: number;
  readonly sum: number;
  /** Process CPU (user + system) per message, µs. */
  readonly cpuUsPerMessage: number;
  /** Of which system (kernel: socket reads and writes), µs per message. */
  readonly systemUsPerMessage: number;
  /** Socket writes per 1,000 messages (the acks and pull requests go out in fewer, larger writes when batched). */
  readonly writesPerThousand: number;
  /** Read syscalls per 1,000 messages (/proc/self/io): how finely the server's deliveries came in. */
  readonly readsPerThousand?: number;
  /** Garbage collections in the window: minor (scavenges) and major (mark-compacts), and their ms per 1,000 messages. */
  readonly gc: { readonly minor: number; readonly major: number; readonly msPerThousand: number };
  /** The timed window on the monotonic clock (µs), for `bench/profile.ts` on a `--cpu-prof` of the child. */
  readonly windowUs: readonly [number, number];
  /**
   * nats-server's CPU (user + system) per message in the window, µs, when /proc shows the server
   * (its pid comes from the orchestrator): the client's answers cost the server work too.
   */
  readonly serverUsPerMessage?: number;
}

/** nats-server's pid, handed to each child by the orchestrator (undefined: not on this machine). */
const SERVER_PID = process.env.WEIR_BENCH_NATS_PID ? Number(process.env.WEIR_BENCH_NATS_PID) : undefined;

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

/** Messages preloaded, and of them the first ones each side handles before its window opens. */
const DEFAULT_N = 100_000;
const DEFAULT_WARMUP = 20_000;
const WARMUP = arg("warmup", DEFAULT_WARMUP);

/** Set at the hand-over that completes the warm-up, on both sides. */
let firstAt:
  | {
      readonly at: number;
      readonly cpu: NodeJS.CpuUsage;
      readonly counted: number;
      readonly writes: number;
      readonly us: number;
      readonly serverTicks: number | undefined;
      readonly reads: number | undefined;
    }
  | undefined;
/** Messages handed over so far; the window opens at the first hand-over that reaches `--warmup`. */
let handed = 0;
function mark(count: number): void {
  handed += count;
  if (firstAt !== undefined || handed < WARMUP) return;
  const counted = handed;
  firstAt = {
    at: performance.now(),
    cpu: process.cpuUsage(),
    counted,
    writes,
    us: monotonicUs(),
    serverTicks: readCpuTicks(SERVER_PID),
    reads: readSyscalls()?.reads,
  };
}

/** Garbage collections of the child, from the first hand-over on (both sides allocate through the same client). */
const gc = { minor: 0, major: 0, ms: 0 };
function countCollections(): void {
  new PerformanceObserver((list) => {
    if (firstAt === undefined) return;
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
      gc.ms += entry.duration;
    }
  }).observe({ entryTypes: ["gc"] });
}

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Socket writes of the child so far (both sides' clients write through net.Socket). */
let writes = 0;
function countWrites(): void {
  const write = Socket.prototype.write as (this: Socket, ...args: unknown[]) => boolean;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]): boolean {
    writes++;
    return write.apply(this, args);
  } as typeof Socket.prototype.write;
}

interface Body {
  id: number;
  pad: string;
}

async function raw(
  stream: string,
  durable: string,
  n: number,
  bulk: number,
  prefetch: number,
  finish: () => void,
): Promise<number> {
  const nc = await connect({ servers: SERVER });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, durable);
  let sum = 0;
  let seen = 0;
  let batch: { msg: JsMsg; body: Body }[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const work = (items: { msg: JsMsg; body: Body }[]) => {
    mark(items.length);
    for (const item of items) sum += item.body.id;
    for (const item of items) item.msg.ack();
  };
  const size = Math.min(bulk, prefetch);
  const messages = await consumer.consume({
    max_messages: prefetch,
    expires: 5_000,
    callback: (msg) => {
      batch.push({ msg, body: JSON.parse(new TextDecoder().decode(msg.data)) as Body });
      seen++;
      if (batch.length === size || seen === n) {
        const items = batch;
        batch = [];
        work(items);
        if (seen === n) done();
      }
    },
  });
  await finished;
  // As on the weir side: the time stops once the last acks are handed to the client.
  await new Promise((resolve) => setImmediate(resolve));
  finish();
  await nc.flush();
  await messages.close();
  await nc.close();
  return sum;
}

async function weir(
  stream: string,
  durable: string,
  n: number,
  bulk: number,
  prefetch: number,
  finish: () => void,
): Promise<number> {
  const app = new App({ name: "bench", logger: pino({ level: "silent" }), nats: { servers: SERVER } });
  let sum = 0;
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  app.route(
    [stream],
    {
      type: RouteTypes.NATS,
      consumer: durable,
      prefetch,
      options: { bulkSize: bulk, bulkFlushInterval: 50 },
    },
    async (messages: NATSMessage<Body>[]) => {
      mark(messages.length);
      for (const m of messages) sum += m.body.id;
      seen += messages.length;
      // The acks go out when the handler returns: resolve after them.
      if (seen === n) setImmediate(done);
    },
  );
  await app.start();
  await finished;
  finish();
  await app.stop();
  return sum;
}

async function child(side: "raw" | "weir", stream: string, durable: string): Promise<void> {
  const n = arg("n", DEFAULT_N);
  const bulk = arg("bulk", 100);
  const prefetch = arg("prefetch", 500);
  countWrites();
  countCollections();
  let end:
    | {
        at: number;
        cpu: NodeJS.CpuUsage;
        writes: number;
        us: number;
        serverTicks: number | undefined;
        reads: number | undefined;
      }
    | undefined;
  const sum = await (side === "raw" ? raw : weir)(stream, durable, n, bulk, prefetch, () => {
    end = {
      at: performance.now(),
      cpu: process.cpuUsage(),
      writes,
      us: monotonicUs(),
      serverTicks: readCpuTicks(SERVER_PID),
      reads: readSyscalls()?.reads,
    };
  });
  if (firstAt === undefined || end === undefined) throw new Error("no batch was handed over");
  const counted = n - firstAt.counted;
  const cpu = end.cpu.user + end.cpu.system - (firstAt.cpu.user + firstAt.cpu.system);
  const result: SideResult = {
    side,
    n: counted,
    ms: end.at - firstAt.at,
    sum,
    cpuUsPerMessage: cpu / counted,
    systemUsPerMessage: (end.cpu.system - firstAt.cpu.system) / counted,
    writesPerThousand: ((end.writes - firstAt.writes) / counted) * 1000,
    gc: { minor: gc.minor, major: gc.major, msPerThousand: (gc.ms / counted) * 1000 },
    windowUs: [firstAt.us, end.us],
    ...(firstAt.reads === undefined || end.reads === undefined
      ? {}
      : { readsPerThousand: ((end.reads - firstAt.reads) / counted) * 1000 }),
    ...(firstAt.serverTicks === undefined || end.serverTicks === undefined
      ? {}
      : { serverUsPerMessage: (((end.serverTicks - firstAt.serverTicks) / clockTicks()) * 1e6) / counted }),
  };
  console.log(JSON.stringify(result));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function orchestrate(): Promise<void> {
  const n = arg("n", DEFAULT_N);
  const bulk = arg("bulk", 100);
  const prefetch = arg("prefetch", 500);
  const reps = arg("reps", 3);
  if (!(WARMUP >= 0 && WARMUP < n))
    throw new Error(`--warmup ${WARMUP} must be at least 0 and below --n ${n}`);
  const self = fileURLToPath(import.meta.url);
  const nc = await connect({ servers: SERVER });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const pad = "x".repeat(80);
  const serverPid = findNATSServerPid();
  const ticks = clockTicks();
  const results: { raw: SideResult; weir: SideResult; ratio: number }[] = [];
  // Other work on the machine moves every figure: its load averages (1, 5, 15 min) go with them.
  const loadBefore = loadavg();
  for (let rep = 1; rep <= reps; rep++) {
    const pair = {} as { raw: SideResult; weir: SideResult };
    for (const side of ["raw", "weir"] as const) {
      const stream = `weir_bench_${randomUUID().slice(0, 8)}`;
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      try {
        for (let id = 1; id <= n; id += 500) {
          const publishes: Promise<unknown>[] = [];
          for (let i = id; i < id + 500 && i <= n; i++)
            publishes.push(js.publish(`${stream}.m`, JSON.stringify({ id: i, pad })));
          await Promise.all(publishes);
        }
        const durable = `bench_${side}`;
        await jsm.consumers.add(stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          max_ack_pending: prefetch,
        });
        // The preload leaves the server writing for a moment: a side that starts meanwhile measures it.
        await waitForQuiet(serverPid, ticks);
        const profile = process.argv.indexOf("--profile");
        const profiling =
          profile === -1
            ? []
            : [
                "--cpu-prof",
                "--cpu-prof-dir",
                process.argv[profile + 1]!,
                "--cpu-prof-name",
                `${side}-${rep}.cpuprofile`,
              ];
        const run = spawnSync(
          process.execPath,
          [
            ...profiling,
            "--import",
            "tsx",
            self,
            "--child",
            side,
            stream,
            durable,
            "--n",
            String(n),
            "--bulk",
            String(bulk),
            "--prefetch",
            String(prefetch),
            "--warmup",
            String(WARMUP),
          ],
          {
            encoding: "utf8",
            timeout: 300_000,
            env: { ...process.env, WEIR_BENCH_NATS_PID: serverPid === undefined ? "" : String(serverPid) },
          },
        );
        const line = run.stdout.trim().split("\n").at(-1) ?? "";
        if (run.status !== 0 || !line.startsWith("{")) {
          process.stderr.write(run.stderr);
          throw new Error(`the ${side} side failed (exit ${run.status})`);
        }
        const result = JSON.parse(line) as SideResult;
        if (result.sum !== (n * (n + 1)) / 2)
          throw new Error(`${side}: id sum ${result.sum}, expected ${(n * (n + 1)) / 2}`);
        const info = await jsm.consumers.info(stream, durable);
        if (info.num_pending + info.num_ack_pending !== 0)
          throw new Error(
            `${side}: ${info.num_pending} pending, ${info.num_ack_pending} unacked after the run`,
          );
        pair[side] = result;
        if (profiling.length > 0) console.log(`${side}-${rep}: window ${result.windowUs.join(":")}`);
      } finally {
        await jsm.streams.delete(stream);
      }
    }
    const ratio = pair.raw.ms / pair.weir.ms;
    results.push({ ...pair, ratio });
    const rate = (r: SideResult) => Math.round((r.n / r.ms) * 1000).toLocaleString("en-US");
    const cpu = (r: SideResult) =>
      `${r.cpuUsPerMessage.toFixed(1)} µs/msg (sys ${r.systemUsPerMessage.toFixed(1)}), ` +
      `${r.writesPerThousand.toFixed(1)} writes/${r.readsPerThousand?.toFixed(1) ?? "?"} reads/1k, GC ${r.gc.minor}+${r.gc.major} ${r.gc.msPerThousand.toFixed(2)} ms/1k` +
      (r.serverUsPerMessage === undefined ? "" : `, server ${r.serverUsPerMessage.toFixed(1)} µs/msg`);
    console.log(
      `rep ${rep}/${reps}: raw ${rate(pair.raw)} msg/s ${cpu(pair.raw)}, ` +
        `weir ${rate(pair.weir)} msg/s ${cpu(pair.weir)}, weir/raw ${ratio.toFixed(3)}`,
    );
  }
  await nc.close();
  const rates = (side: "raw" | "weir") => results.map((r) => (r[side].n / r[side].ms) * 1000);
  const summary = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version },
    load: { before: loadBefore, after: loadavg() },
    n,
    warmup: WARMUP,
    bulk,
    prefetch,
    reps,
    rawMedianPerSecond: Math.round(median(rates("raw"))),
    weirMedianPerSecond: Math.round(median(rates("weir"))),
    ratioMedian: median(results.map((r) => r.ratio)),
    ratioRange: [Math.min(...results.map((r) => r.ratio)), Math.max(...results.map((r) => r.ratio))],
    cpuRatioMedian: median(results.map((r) => r.weir.cpuUsPerMessage / r.raw.cpuUsPerMessage)),
    writesRatioMedian: median(results.map((r) => r.weir.writesPerThousand / r.raw.writesPerThousand)),
    cpuUsPerMessageMedian: {
      raw: median(results.map((r) => r.raw.cpuUsPerMessage)),
      weir: median(results.map((r) => r.weir.cpuUsPerMessage)),
    },
    serverUsPerMessageMedian: {
      raw: median(results.map((r) => r.raw.serverUsPerMessage ?? Number.NaN)),
      weir: median(results.map((r) => r.weir.serverUsPerMessage ?? Number.NaN)),
    },
    gcMsPerThousandMedian: {
      raw: median(results.map((r) => r.raw.gc.msPerThousand)),
      weir: median(results.map((r) => r.weir.gc.msPerThousand)),
    },
    results,
  };
  console.log(
    `median: raw ${summary.rawMedianPerSecond} msg/s, weir ${summary.weirMedianPerSecond} msg/s, ` +
      `weir/raw ${summary.ratioMedian.toFixed(3)} (${summary.ratioRange.map((r) => r.toFixed(3)).join("–")}), ` +
      `CPU ${summary.cpuUsPerMessageMedian.raw.toFixed(1)} → ${summary.cpuUsPerMessageMedian.weir.toFixed(1)} µs/msg ` +
      `(${summary.cpuRatioMedian.toFixed(2)}×), GC ${summary.gcMsPerThousandMedian.raw.toFixed(2)} → ` +
      `${summary.gcMsPerThousandMedian.weir.toFixed(2)} ms/1k, socket writes ${summary.writesRatioMedian.toFixed(2)}×, ` +
      `server ${summary.serverUsPerMessageMedian.raw.toFixed(1)} → ${summary.serverUsPerMessageMedian.weir.toFixed(1)} µs/msg; ` +
      `load ${summary.load.before[0]!.toFixed(1)} → ${summary.load.after[0]!.toFixed(1)}`,
  );
  const out = process.argv.indexOf("--out");
  const file = out === -1 ? `bench/results/${summary.date.slice(0, 10)}-nats.json` : process.argv[out + 1]!;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`written: ${file}`);
}

const childAt = process.argv.indexOf("--child");
if (childAt !== -1) {
  await child(
    process.argv[childAt + 1] as "raw" | "weir",
    process.argv[childAt + 2]!,
    process.argv[childAt + 3]!,
  );
} else {
  await orchestrate();
}
