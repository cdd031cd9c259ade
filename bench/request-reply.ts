/**
 * Request / reply round trips: weir (`app.amqp.request` to a route with `reply: true`) beside a
 * hand-written amqplib direct reply-to loop doing the same work, in one run, alternated raw, weir,
 * raw, weir... Each side runs in its own process, serves and calls in that process (one connection
 * for the server, one for the client, as weir has), keeps `--inflight` requests in flight until
 * `--n` round trips are done, and checks that every reply came back to its own caller.
 *
 *   npm run bench:rpc -- [--n 20000] [--inflight 100] [--reps 5]
 *
 * Prints a table and writes bench/results/<date>-request-reply.json. Needs RabbitMQ on
 * 127.0.0.1:5672 (WEIR_BENCH_URL points elsewhere). Queues are named `weir-bench.rpc.*` and deleted.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { fileURLToPath } from "node:url";
import * as amqp from "amqplib";
import pino from "pino";
import { App, RouteTypes } from "../src/index.js";

const URL = process.env.WEIR_BENCH_URL ?? "amqp://guest:guest@127.0.0.1:5672";

interface SideResult {
  readonly side: "raw" | "weir";
  readonly n: number;
  readonly ms: number;
  /** Client process CPU (user + system) per round trip, µs. */
  readonly cpuUsPerRequest: number;
}

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

/** Keeps `inflight` calls running until `n` are done; checks each reply is its caller's. */
async function drive(n: number, inflight: number, call: (i: number) => Promise<number>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const reply = await call(i);
      if (reply !== i * 2) throw new Error(`request ${i} got the reply ${reply}`);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return performance.now() - started;
}

async function raw(queue: string, n: number, inflight: number): Promise<SideResult> {
  const serverModel = await amqp.connect(URL);
  const server = await serverModel.createChannel();
  await server.prefetch(100);
  await server.consume(queue, (message) => {
    if (message === null) return;
    const { i } = JSON.parse(message.content.toString("utf8")) as { i: number };
    server.sendToQueue(message.properties.replyTo, Buffer.from(JSON.stringify(i * 2)), {
      correlationId: message.properties.correlationId,
      contentType: "application/json",
    });
    server.ack(message);
  });
  const clientModel = await amqp.connect(URL);
  const client = await clientModel.createChannel();
  const waiting = new Map<string, (reply: number) => void>();
  await client.consume(
    "amq.rabbitmq.reply-to",
    (message) => {
      if (message === null) return;
      const resolve = waiting.get(message.properties.correlationId);
      if (resolve === undefined) return;
      waiting.delete(message.properties.correlationId);
      resolve(JSON.parse(message.content.toString("utf8")) as number);
    },
    { noAck: true },
  );
  const cpu = process.cpuUsage();
  const ms = await drive(
    n,
    inflight,
    (i) =>
      new Promise<number>((resolve) => {
        const correlationId = randomUUID();
        waiting.set(correlationId, resolve);
        client.publish("", queue, Buffer.from(JSON.stringify({ i })), {
          correlationId,
          replyTo: "amq.rabbitmq.reply-to",
          contentType: "application/json",
          mandatory: true,
        });
      }),
  );
  const used = process.cpuUsage(cpu);
  await clientModel.close();
  await serverModel.close();
  return { side: "raw", n, ms, cpuUsPerRequest: (used.user + used.system) / n };
}

async function weir(queue: string, n: number, inflight: number): Promise<SideResult> {
  const logger = pino({ level: "warn" });
  const server = new App({ name: "bench-rpc-server", logger, amqp: { url: URL } });
  // Per-message handlers, up to 100 at once: the raw server handles each delivery as it comes, too.
  server.route(
    [queue],
    { type: RouteTypes.AMQP, reply: true, prefetch: 100, options: { bulkSize: 1, concurrency: 100 } },
    async (messages) => messages.map((m) => (m.body as { i: number }).i * 2),
  );
  await server.start();
  const client = new App({ name: "bench-rpc-client", logger, amqp: { url: URL } });
  await client.start();
  // Opens the request channel, as the raw side does before it measures.
  await client.amqp.request({ i: 0 }, { routingKey: queue });
  const cpu = process.cpuUsage();
  const ms = await drive(n, inflight, (i) => client.amqp.request<number>({ i }, { routingKey: queue }));
  const used = process.cpuUsage(cpu);
  await client.stop();
  await server.stop();
  return { side: "weir", n, ms, cpuUsPerRequest: (used.user + used.system) / n };
}

async function child(side: "raw" | "weir", n: number, inflight: number): Promise<void> {
  const queue = `weir-bench.rpc.${side}.${randomUUID().slice(0, 8)}`;
  const admin = await amqp.connect(URL);
  const channel = await admin.createChannel();
  await channel.assertQueue(queue, { durable: false, autoDelete: false });
  try {
    const result = side === "raw" ? await raw(queue, n, inflight) : await weir(queue, n, inflight);
    process.stdout.write(`${JSON.stringify(result)}\n`);
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

function orchestrate(): void {
  const n = arg("n", 20_000);
  const inflight = arg("inflight", 100);
  const reps = arg("reps", 5);
  const self = fileURLToPath(import.meta.url);
  const results: { raw: SideResult; weir: SideResult; ratio: number }[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const pair = {} as { raw: SideResult; weir: SideResult };
    for (const side of ["raw", "weir"] as const) {
      const run = spawnSync(
        process.execPath,
        ["--import", "tsx", self, "--child", side, "--n", String(n), "--inflight", String(inflight)],
        {
          encoding: "utf8",
          timeout: 300_000,
        },
      );
      const line = run.stdout.trim().split("\n").at(-1) ?? "";
      if (run.status !== 0 || !line.startsWith("{")) {
        process.stderr.write(run.stderr);
        throw new Error(`the ${side} side failed (exit ${run.status})`);
      }
      pair[side] = JSON.parse(line) as SideResult;
    }
    const ratio = pair.raw.ms / pair.weir.ms;
    results.push({ ...pair, ratio });
    const rate = (r: SideResult) => Math.round((r.n / r.ms) * 1000).toLocaleString("en-US");
    console.log(
      `rep ${rep}/${reps}: raw ${rate(pair.raw)} req/s ${pair.raw.cpuUsPerRequest.toFixed(1)} µs/req, ` +
        `weir ${rate(pair.weir)} req/s ${pair.weir.cpuUsPerRequest.toFixed(1)} µs/req, ratio ${ratio.toFixed(3)}`,
    );
  }
  const rates = (side: "raw" | "weir") => results.map((r) => (r[side].n / r[side].ms) * 1000);
  const summary = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version },
    n,
    inflight,
    reps,
    rawMedianPerSecond: Math.round(median(rates("raw"))),
    weirMedianPerSecond: Math.round(median(rates("weir"))),
    ratioMedian: median(results.map((r) => r.ratio)),
    ratioRange: [Math.min(...results.map((r) => r.ratio)), Math.max(...results.map((r) => r.ratio))],
    cpuRatioMedian: median(results.map((r) => r.weir.cpuUsPerRequest / r.raw.cpuUsPerRequest)),
    results,
  };
  console.log(
    `median: raw ${summary.rawMedianPerSecond} req/s, weir ${summary.weirMedianPerSecond} req/s, ` +
      `weir/raw ${summary.ratioMedian.toFixed(3)} (${summary.ratioRange.map((r) => r.toFixed(3)).join("–")}), ` +
      `client CPU ${summary.cpuRatioMedian.toFixed(2)}×`,
  );
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/${summary.date.slice(0, 10)}-request-reply.json`;
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`written: ${file}`);
}

const childAt = process.argv.indexOf("--child");
if (childAt !== -1) {
  await child(process.argv[childAt + 1] as "raw" | "weir", arg("n", 20_000), arg("inflight", 100));
} else {
  orchestrate();
}
