/**
 * Publish-to-handler latency at a fixed offered rate (issue #19): raw amqplib (prefetch 100, ack
 * each), weir `bulkSize: 1` (prefetch 100) and weir `bulkSize: 100` with a 10 ms
 * `bulkFlushInterval`, alternated in one run. This process publishes at `--rate` msg/s for
 * `--seconds` (paced every millisecond, catching up on what a late tick missed) to a fresh queue;
 * each body carries its send time. A child process per side and repetition consumes and records,
 * per message, the time from the send to the handler seeing it (raw: the consume callback; weir: the
 * handler). Both clocks are `performance.timeOrigin + performance.now()` on one machine.
 *
 *   npm run bench:latency -- [--rate 5000] [--seconds 30] [--warmup 2] [--reps 3]
 *
 * The first `--warmup` seconds of each run are offered but not recorded (JIT warm-up).
 *
 * Prints p50 / p99 / max per side and the weir/raw ratios of p50 and p99 at bulkSize 1 (target
 * ≤ 1.1), and writes bench/results/<date>-latency.json. Needs RabbitMQ on 127.0.0.1:5672
 * (WEIR_BENCH_URL points elsewhere). Queues are named `weir-bench.latency.*` and deleted.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as amqp from "amqplib";
import pino from "pino";
import { App, RouteTypes } from "../src/index.js";

const URL = process.env.WEIR_BENCH_URL ?? "amqp://guest:guest@127.0.0.1:5672";

type Side = "raw" | "weir-b1" | "weir-b100";
const SIDES: readonly Side[] = ["raw", "weir-b1", "weir-b100"];

interface SideResult {
  readonly side: Side;
  readonly count: number;
  /** ms */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Consumer process CPU (user + system) per message, µs. */
  readonly cpuUsPerMsg: number;
}

const now = (): number => performance.timeOrigin + performance.now();

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** The consumer: says "ready" once consuming, then records until `n` arrived and prints its result. */
async function child(side: Side, queue: string, n: number, warm: number): Promise<void> {
  const latencies = new Float64Array(n - warm);
  let count = 0;
  let cpu = process.cpuUsage();
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  // The first `warm` messages (JIT warm-up, the first connection's buffers) are not recorded.
  const seen = (sentAt: number): void => {
    if (count === warm) cpu = process.cpuUsage();
    if (count >= warm && count < n) latencies[count - warm] = now() - sentAt;
    if (++count === n) finish();
  };
  let stop: () => Promise<void>;
  if (side === "raw") {
    const model = await amqp.connect(URL);
    const channel = await model.createChannel();
    await channel.prefetch(100);
    await channel.consume(queue, (message) => {
      if (message === null) return;
      seen((JSON.parse(message.content.toString("utf8")) as { t: number }).t);
      channel.ack(message);
    });
    stop = () => model.close();
  } else {
    const app = new App({
      name: "weir-bench-latency",
      logger: pino({ level: "warn" }),
      amqp: { url: URL, noDelay: process.env.WEIR_BENCH_NODELAY !== "0" },
    });
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        prefetch: side === "weir-b1" ? 100 : 1000,
        options: side === "weir-b1" ? { bulkSize: 1 } : { bulkSize: 100, bulkFlushInterval: 10 },
      },
      async (messages) => {
        for (const m of messages) seen((m.body as { t: number }).t);
      },
    );
    await app.start();
    stop = () => app.stop();
  }
  process.stdout.write("ready\n");
  await done;
  const used = process.cpuUsage(cpu);
  await stop();
  latencies.sort();
  const result: SideResult = {
    side,
    count: count - warm,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? Number.NaN,
    cpuUsPerMsg: (used.user + used.system) / (count - warm),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Publishes `n` bodies at `rate` msg/s, paced every ms; resolves when the last one is written. */
async function offer(channel: amqp.Channel, queue: string, n: number, rate: number): Promise<void> {
  let sent = 0;
  const started = now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(n, Math.floor(((now() - started) / 1000) * rate));
      while (sent < due) {
        sent++;
        channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id: sent, t: now() })), {
          contentType: "application/json",
        });
      }
      if (sent === n) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
}

async function runSide(side: Side, rate: number, seconds: number, warmup: number): Promise<SideResult> {
  const n = rate * (seconds + warmup);
  const queue = `weir-bench.latency.${side}.${randomUUID().slice(0, 8)}`;
  const admin = await amqp.connect(URL);
  const channel = await admin.createChannel();
  await channel.assertQueue(queue, { durable: false });
  try {
    const proc = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        fileURLToPath(import.meta.url),
        "--child",
        side,
        "--queue",
        queue,
        "--n",
        String(n),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.value !== "ready") throw new Error(`the ${side} consumer did not start`);
    await offer(channel, queue, n, rate);
    const last = await lines.next();
    if (typeof last.value !== "string" || !last.value.startsWith("{")) {
      throw new Error(`the ${side} consumer ended without a result`);
    }
    return JSON.parse(last.value) as SideResult;
  } finally {
    await channel.deleteQueue(queue).catch(() => {});
    await admin.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function orchestrate(): Promise<void> {
  const rate = arg("rate", 5000);
  const seconds = arg("seconds", 30);
  const reps = arg("reps", 3);
  const warmup = arg("warmup", 2);
  const runs: SideResult[][] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const results: SideResult[] = [];
    for (const side of SIDES) {
      const result = await runSide(side, rate, seconds, warmup);
      results.push(result);
      console.log(
        `rep ${rep}/${reps} ${side.padEnd(9)}: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ` +
          `max ${result.max.toFixed(1)} ms, ${result.cpuUsPerMsg.toFixed(1)} µs/msg`,
      );
    }
    runs.push(results);
  }
  const of = (side: Side, field: "p50" | "p99" | "max" | "cpuUsPerMsg") =>
    median(runs.map((results) => results.find((r) => r.side === side)![field]));
  const table = SIDES.map((side) => ({
    side,
    p50: of(side, "p50"),
    p99: of(side, "p99"),
    max: of(side, "max"),
    cpuUsPerMsg: of(side, "cpuUsPerMsg"),
  }));
  const ratios = {
    p50: median(runs.map((r) => r[1]!.p50 / r[0]!.p50)),
    p99: median(runs.map((r) => r[1]!.p99 / r[0]!.p99)),
  };
  console.log("\n| side | p50 ms | p99 ms | max ms | consumer CPU µs/msg |\n|---|---|---|---|---|");
  for (const row of table) {
    console.log(
      `| ${row.side} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.max.toFixed(1)} | ${row.cpuUsPerMsg.toFixed(1)} |`,
    );
  }
  console.log(
    `\nweir bulkSize 1 / raw: p50 ${ratios.p50.toFixed(2)}×, p99 ${ratios.p99.toFixed(2)}× (target ≤ 1.1×); ` +
      `${rate} msg/s for ${seconds} s, ${reps} repetitions, medians`,
  );
  const summary = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version },
    rate,
    seconds,
    reps,
    table,
    ratios,
    runs,
  };
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/${summary.date.slice(0, 10)}-latency.json`;
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`written: ${file}`);
}

const childAt = process.argv.indexOf("--child");
if (childAt === -1) {
  await orchestrate();
} else {
  const side = process.argv[childAt + 1] as Side;
  const queueAt = process.argv.indexOf("--queue");
  await child(side, process.argv[queueAt + 1] ?? "", arg("n", 0), arg("warm", 0));
  process.exit(0);
}
