/**
 * Redis Streams consumption: a weir route (consumer group, bulks of `--batch`, prefetch `--batch`,
 * one XACK per bulk) beside a hand-written ioredis XREADGROUP / XACK loop doing the same work (read
 * `--batch` entries, JSON.parse each body, add up a field, XACK the batch, read again), alternated
 * raw, weir, raw, weir... Each side reads its own pre-filled stream of `--n` entries (the fill is not
 * timed) through a group of its own, in this process, until every entry is handled and acked.
 * The timed window (wall time and process CPU) runs from a connected client (the raw loop's) or a
 * started app (weir's) to the last entry acked: connecting, `start()` and `stop()` are outside.
 * 60,000 entries by default: at 20,000 a side's window is under a second, mostly JIT warm-up.
 *
 *   npx tsx bench/redis.ts [--n 60000] [--batch 100] [--reps 2] [--only raw|weir]
 *
 * Prints a table (msg/s and CPU µs per entry per side and repetition), the means, the medians
 * with the range of per-repetition ratios (weir against the raw run just before it), and each
 * window on the monotonic clock (`bench/profile.ts`'s window). Needs Redis on 127.0.0.1:6379
 * (WEIR_BENCH_REDIS_URL points elsewhere). Streams are named `weir-bench.redis.*` and deleted.
 */
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { Redis } from "ioredis";
import pino from "pino";
import { App, RouteTypes } from "../src/index.js";

const URL = process.env.WEIR_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const n = arg("n", 60_000);
const batch = arg("batch", 100);
const reps = arg("reps", 2);
const onlyAt = process.argv.indexOf("--only");
const only = onlyAt === -1 ? undefined : process.argv[onlyAt + 1];
const admin = new Redis(URL, { protocol: 2 });

/** A stream of `n` entries and an empty group on it (not timed). */
async function fill(): Promise<string> {
  const stream = `weir-bench.redis.${randomUUID().slice(0, 8)}`;
  const pad = "x".repeat(100);
  for (let i = 0; i < n; i += 1000) {
    const pipeline = admin.pipeline();
    for (let j = i; j < Math.min(n, i + 1000); j++)
      pipeline.xadd(stream, "*", "body", JSON.stringify({ i: j, pad }));
    await pipeline.exec();
  }
  await admin.call("XGROUP", ["CREATE", stream, "bench", "0"]);
  return stream;
}

async function pendingOf(stream: string): Promise<number> {
  const [count] = (await admin.call("XPENDING", [stream, "bench"])) as [number];
  return Number(count);
}

/** A side's timed window: wall time (ms) and this process's CPU (user + system, µs) in it. */
interface Window {
  readonly ms: number;
  readonly cpuUs: number;
  /** On the monotonic clock (µs), for `bench/profile.ts` on a `--cpu-prof` of this process. */
  readonly fromUs: number;
  readonly toUs: number;
}

function open(): () => Window {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const fromUs = monotonicUs();
  return () => {
    const used = process.cpuUsage(cpu);
    return {
      ms: performance.now() - started,
      cpuUs: used.user + used.system,
      fromUs,
      toUs: monotonicUs(),
    };
  };
}

async function raw(stream: string): Promise<Window> {
  const client = new Redis(URL, { protocol: 2 });
  await client.ping(); // connected before the clock starts, as weir's start() is
  let handled = 0;
  let sum = 0;
  const close = open();
  while (handled < n) {
    const reply = (await client.call("XREADGROUP", [
      "GROUP",
      "bench",
      "raw",
      "COUNT",
      String(batch),
      "BLOCK",
      "1000",
      "STREAMS",
      stream,
      ">",
    ])) as [string, [string, string[]][]][] | null;
    if (reply === null) continue;
    const entries = reply[0]![1];
    const ids: string[] = [];
    for (const [id, fields] of entries) {
      sum += (JSON.parse(fields[1]!) as { i: number }).i;
      ids.push(id);
    }
    await client.xack(stream, "bench", ...ids);
    handled += entries.length;
  }
  const window = close();
  if (sum !== (n * (n - 1)) / 2) throw new Error(`raw: wrong sum ${sum}`);
  await client.quit();
  return window;
}

async function weir(stream: string): Promise<Window> {
  const app = new App({ name: "bench", logger: pino({ level: "silent" }), redis: { url: URL } });
  let handled = 0;
  let sum = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  app.route(
    [stream],
    {
      type: RouteTypes.REDIS,
      group: "bench",
      prefetch: batch,
      options: { bulkSize: batch, bulkFlushInterval: 50 },
    },
    async (messages) => {
      for (const m of messages) sum += (m.body as { i: number }).i;
      handled += messages.length;
      if (handled >= n) done();
    },
  );
  // start() resolves once the route reads; the clock starts there, as the raw loop's does once connected.
  await app.start();
  const close = open();
  await finished;
  // Every entry acked, as the raw loop's are when it ends.
  while ((await pendingOf(stream)) > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  const window = close();
  await app.stop();
  if (sum !== (n * (n - 1)) / 2) throw new Error(`weir: wrong sum ${sum}`);
  return window;
}

/** The monotonic clock (µs), as a `--cpu-prof` profile's timestamps, for `bench/profile.ts`'s window. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const windows: string[] = [];
const rows: Array<{ rep: number; side: string; ms: number; rate: number; cpuUsPerMsg: number }> = [];
for (let rep = 1; rep <= reps; rep++) {
  for (const [side, run] of [
    ["raw", raw],
    ["weir", weir],
  ] as const) {
    if (only !== undefined && side !== only) continue;
    const stream = await fill();
    try {
      // Process CPU (user + system) in the timed window, µs per message: one side runs at a time.
      const { ms, cpuUs, fromUs, toUs } = await run(stream);
      windows.push(`${side} ${rep}: ${fromUs}:${toUs}`);
      rows.push({
        rep,
        side,
        ms: Math.round(ms),
        rate: Math.round((n / ms) * 1000),
        cpuUsPerMsg: Number((cpuUs / n).toFixed(1)),
      });
    } finally {
      await admin.del(stream);
    }
  }
}
const mean = (side: string) => {
  const rates = rows.filter((row) => row.side === side).map((row) => row.rate);
  return rates.reduce((a, b) => a + b, 0) / rates.length;
};
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const of = (side: string, key: "rate" | "cpuUsPerMsg") =>
  rows.filter((row) => row.side === side).map((row) => row[key]);
// Per repetition, weir against the raw run just before it (alternated, so under the same load).
const ratios = rows
  .filter((row) => row.side === "weir")
  .flatMap((row) => {
    const before = rows.find((other) => other.side === "raw" && other.rep === row.rep);
    return before === undefined ? [] : [row.rate / before.rate];
  });
console.table(rows);
console.log(`windowUs (side rep: start:end): ${windows.join(", ")}`);
console.log(
  `n=${n} batch=${batch} reps=${reps} cpus=${cpus().length}: raw ${Math.round(mean("raw"))} msg/s, ` +
    `weir ${Math.round(mean("weir"))} msg/s, weir/raw ${(mean("weir") / mean("raw")).toFixed(3)}`,
);
if (ratios.length > 0) {
  console.log(
    `medians: raw ${median(of("raw", "rate"))} msg/s, weir ${median(of("weir", "rate"))} msg/s, ` +
      `weir/raw ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}), ` +
      `CPU µs/entry raw ${median(of("raw", "cpuUsPerMsg"))} / weir ${median(of("weir", "cpuUsPerMsg"))}`,
  );
}
await admin.quit();
