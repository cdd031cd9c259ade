/**
 * Task round trip: from `delay()` to `result()` resolving, one run at a time, for a weir task (the
 * run goes through RabbitMQ, its status and result through Redis) beside BullMQ's `queue.add()` and
 * `job.waitUntilFinished()` (everything through Redis) on the same Redis, both workers in this
 * process, the handler returning its input. Alternated weir, bullmq, weir, bullmq...
 *
 *   npx tsx bench/task-roundtrip.ts [--n 300] [--reps 3]
 *
 * Prints p50 / p90 / p99 per side and repetition, and the ratio of medians. Needs RabbitMQ on
 * 127.0.0.1:5672 and Redis on 6379. Queues and keys are named `weir-bench.tasks.*` and removed.
 */
import { randomUUID } from "node:crypto";
import { connect } from "amqplib";
import { type Job, Queue, QueueEvents, Worker } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { App } from "../src/index.js";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const n = arg("n", 300);
const reps = arg("reps", 3);
const name = `weir-bench.tasks.${randomUUID().slice(0, 8)}`;
const connection = { host: "127.0.0.1", port: 6379 };

function percentiles(times: number[]): { p50: number; p90: number; p99: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

const app = new App({ name: "bench-tasks", logger: pino({ level: "silent" }) });
const echo = app.task<{ i: number }>(name, async (payload) => payload, { concurrency: 1 });
await app.start();

const queue = new Queue(name.replace(/\./g, "-"), { connection });
const events = new QueueEvents(queue.name, { connection });
const worker = new Worker(queue.name, async (job: Job) => job.data, { connection, concurrency: 1 });
await Promise.all([events.waitUntilReady(), worker.waitUntilReady()]);

/** The weir runs' ids, to delete their records at the end. */
const ids: string[] = [];

async function weirSide(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const job = await echo.delay({ i });
    await job.result({ timeout: 10_000 });
    ids.push(job.id);
    times.push(performance.now() - start);
  }
  return times;
}

async function bullSide(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const job = await queue.add("echo", { i }, { removeOnComplete: false });
    await job.waitUntilFinished(events, 10_000);
    times.push(performance.now() - start);
  }
  return times;
}

// Warm both up (connections, scripts loaded), untimed.
for (let i = 0; i < 20; i++) {
  const job = await echo.delay({ i });
  await job.result();
  ids.push(job.id);
  await (await queue.add("echo", { i }, { removeOnComplete: false })).waitUntilFinished(events, 10_000);
}

const rows: Array<{ side: string; rep: number; p50: number; p90: number; p99: number }> = [];
for (let rep = 1; rep <= reps; rep++) {
  rows.push({ side: "weir", rep, ...percentiles(await weirSide()) });
  rows.push({ side: "bullmq", rep, ...percentiles(await bullSide()) });
}
console.log(`task round trip, ${n} sequential runs per repetition (ms)`);
console.log("side    rep    p50     p90     p99");
for (const row of rows) {
  console.log(
    `${row.side.padEnd(7)} ${String(row.rep).padStart(3)} ${row.p50.toFixed(2).padStart(7)} ${row.p90.toFixed(2).padStart(7)} ${row.p99.toFixed(2).padStart(7)}`,
  );
}
const median = (side: string) => {
  const values = rows
    .filter((row) => row.side === side)
    .map((row) => row.p50)
    .sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
};
console.log(`p50 weir / bullmq: ${(median("weir") / median("bullmq")).toFixed(2)}`);

await worker.close();
await events.close();
await queue.obliterate({ force: true });
await queue.close();
await app.stop();
const amqp = await connect("amqp://guest:guest@127.0.0.1:5672");
const channel = await amqp.createChannel();
await channel.deleteQueue(name);
await amqp.close();
// The runs' records expire after a day; remove them now.
const redis = new Redis(connection);
for (let i = 0; i < ids.length; i += 500)
  await redis.del(...ids.slice(i, i + 500).map((id) => `weir:task:${id}`));
await redis.quit();
