/**
 * From process start to the first delivery (issue #19): a pure AMQP worker on compiled weir
 * (`dist/`, plain `node`, as `weir run` runs a .js module) beside a raw amqplib script doing the
 * same (connect, channel, prefetch, consume), alternated raw, weir, raw, weir... Each run is a fresh
 * `node` process whose queue holds one message before it starts; the time is `performance.now()`
 * when the handler (raw: the consume callback) sees it, which counts from the process's start, so
 * Node's own boot is in both.
 *
 *   npm run bench:first-delivery -- [--runs 10] [--baseline /path/to/other/dist/index.js] [--raw-nodelay]
 *
 * With `--baseline`, a second weir build (another checkout's dist/) runs too, alternated with the
 * other two (raw, weir, baseline, raw...), so one run compares two builds on the same machine state.
 * With `--raw-nodelay`, a raw script that sets TCP_NODELAY (`noDelay: true`, weir's default since
 * `amqp.noDelay`) runs too: what a hand-written worker gets with the same socket.
 *
 * Target: weir ≤ 1.2× raw (medians). Needs `npm run build` and RabbitMQ on 127.0.0.1:5672.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as amqp from "amqplib";

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const URL = process.env.WEIR_BENCH_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** The raw script: what a hand-written worker does before its first message. */
const RAW = `
import { createRequire } from "node:module";
const amqp = createRequire(process.env.ROOT + "/package.json")("amqplib");
const model = await amqp.connect(process.env.URL, { noDelay: process.env.NO_DELAY === "1" });
const channel = await model.createChannel();
await channel.prefetch(128);
await channel.consume(process.env.QUEUE, (message) => {
  const ms = performance.now();
  channel.ack(message);
  console.log(JSON.stringify({ ms }));
  void model.close().then(() => process.exit(0));
});
`;

/** The weir worker: import, App, one route, start; the handler sees the message. */
const WEIR = `
const { App, RouteTypes } = await import(process.env.ENTRY);
const app = new App({ name: "first-delivery", amqp: { url: process.env.URL }, logger: undefined });
app.route([process.env.QUEUE], { type: RouteTypes.AMQP }, async () => {
  const ms = performance.now();
  console.log(JSON.stringify({ ms }));
  setImmediate(() => void app.stop().then(() => process.exit(0)));
});
await app.start();
`;

/** raw amqplib, weir's dist/, another build (`--baseline`), raw amqplib with TCP_NODELAY (`--raw-nodelay`). */
type Side = "raw" | "weir" | "baseline" | "rawNoDelay";

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function once(side: Side, channel: amqp.Channel, entry: string): Promise<number> {
  const queue = `weir-bench.first.${side}.${randomUUID().slice(0, 8)}`;
  await channel.assertQueue(queue, { durable: false });
  channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id: 1 })), { contentType: "application/json" });
  try {
    const { stdout } = await run(
      process.execPath,
      ["--input-type=module", "-e", side === "raw" || side === "rawNoDelay" ? RAW : WEIR],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ROOT,
          URL,
          QUEUE: queue,
          ENTRY: entry,
          WEIR_LOG_LEVEL: "silent",
          NO_DELAY: side === "rawNoDelay" ? "1" : "0",
        },
        timeout: 30_000,
      },
    );
    const line = stdout.split("\n").find((text) => text.startsWith('{"ms":'));
    if (line === undefined) throw new Error(`the ${side} worker printed no time:\n${stdout}`);
    return (JSON.parse(line) as { ms: number }).ms;
  } finally {
    await channel.deleteQueue(queue).catch(() => {});
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf("--runs");
  const runs = at === -1 ? 10 : Number(process.argv[at + 1]);
  const dist = join(ROOT, "dist/index.js");
  if (!existsSync(dist)) throw new Error("dist/ is missing: run `npm run build` first");
  const entry = pathToFileURL(dist).href;
  const baselineAt = process.argv.indexOf("--baseline");
  const baseline = baselineAt === -1 ? undefined : pathToFileURL(process.argv[baselineAt + 1] ?? "").href;
  const model = await amqp.connect(URL);
  const channel = await model.createChannel();
  const times: Record<Side, number[]> = { raw: [], weir: [], baseline: [], rawNoDelay: [] };
  const sides: Side[] = ["raw", "weir"];
  if (baseline !== undefined) sides.push("baseline");
  if (process.argv.includes("--raw-nodelay")) sides.push("rawNoDelay");
  try {
    for (let i = 0; i < runs; i++) {
      for (const side of sides) {
        times[side].push(await once(side, channel, side === "baseline" ? baseline! : entry));
      }
    }
  } finally {
    await model.close();
  }
  const raw = median(times.raw);
  const weir = median(times.weir);
  console.log(`process start → first delivery, node ${process.version}, ${runs} runs each (medians)`);
  console.log(`  raw amqplib  ${raw.toFixed(0)} ms  (${times.raw.map((t) => t.toFixed(0)).join(", ")})`);
  console.log(`  weir (dist)  ${weir.toFixed(0)} ms  (${times.weir.map((t) => t.toFixed(0)).join(", ")})`);
  console.log(`  weir / raw   ${(weir / raw).toFixed(2)}× (target ≤ 1.2×)`);
  if (baseline !== undefined) {
    const other = median(times.baseline);
    console.log(
      `  baseline     ${other.toFixed(0)} ms  (${times.baseline.map((t) => t.toFixed(0)).join(", ")})`,
    );
    console.log(`  baseline / raw ${(other / raw).toFixed(2)}×`);
  }
  if (sides.includes("rawNoDelay")) {
    const other = median(times.rawNoDelay);
    console.log(
      `  raw, noDelay  ${other.toFixed(0)} ms  (${times.rawNoDelay.map((t) => t.toFixed(0)).join(", ")})`,
    );
    console.log(`  weir / raw with noDelay ${(weir / other).toFixed(2)}×`);
  }
}

await main();
