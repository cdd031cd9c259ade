/**
 * Cold start of a pure AMQP worker (`npm run bench:cold-start`, issue #16): how long `import "weir"`
 * plus `new App()` and one AMQP route take in a fresh Node process, how much memory the process then
 * holds, and which of weir's heavier dependencies that pulled in. No broker is needed: the app is
 * built, never started.
 *
 *   npm run bench:cold-start                   builds dist/, then 10 runs of dist/index.js
 *   npm run bench:cold-start -- --runs 20
 *   npm run bench:cold-start -- --src          src/index.ts through tsx (slower: tsx compiles)
 *   npm run bench:cold-start -- --baseline /tmp/weir-main/dist/index.js
 *                                              the same runs of another build too, alternated
 *
 * Each run is its own `node` process, one after the other. The timed runs load nothing else; one
 * more run per entry, not timed, lists the packages loaded (its module hook slows loading down).
 * With `--baseline`, runs alternate between the two entries, so that the machine's other load hits
 * both alike (a before/after on a busy machine is otherwise mostly noise).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { HEAVY_LIBRARIES } from "./lib/heavy-libraries.js";

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PROBE = pathToFileURL(join(ROOT, "bench/lib/loaded-packages.mjs")).href;

interface Sample {
  /** ms from the start of `import "weir"` to the App with its route built. */
  readonly importMs: number;
  /** ms from the process's start (Node's own boot included) to the same point. */
  readonly totalMs: number;
  /** bytes */
  readonly rss: number;
  readonly heapUsed: number;
  readonly loaded?: readonly string[];
}

/** The child: a worker's first lines. `PROBE` set: list the loaded packages too. */
const CHILD = `
const probe = process.env.PROBE ? (await import(process.env.PROBE)).watchLoadedPackages() : undefined;
const started = performance.now();
const { App, RouteTypes } = await import(process.env.ENTRY);
const app = new App({ name: "cold-start" });
app.route(["cold-start.orders"], { type: RouteTypes.AMQP }, async () => {});
const importMs = performance.now() - started;
const totalMs = performance.now();
const { rss, heapUsed } = process.memoryUsage();
console.log(JSON.stringify({ importMs, totalMs, rss, heapUsed, loaded: probe?.() }));
`;

async function sample(entry: string, tsx: boolean, probe: boolean): Promise<Sample> {
  const args = [...(tsx ? ["--import", "tsx"] : []), "--input-type=module", "-e", CHILD];
  const { stdout } = await run(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ENTRY: entry, PROBE: probe ? PROBE : "" },
    timeout: 60_000,
  });
  // weir's own log lines, JSON too, may surround the report.
  const line = stdout.split("\n").find((text) => text.startsWith('{"importMs":'));
  if (line === undefined) throw new Error(`the child printed no report:\n${stdout}`);
  return JSON.parse(line) as Sample;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

interface Entry {
  readonly label: string;
  readonly url: string;
  readonly samples: Sample[];
  loaded: readonly string[];
}

function entry(label: string, path: string): Entry {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return { label, url: pathToFileURL(path).href, samples: [], loaded: [] };
}

function report(measured: Entry): void {
  const { samples, loaded } = measured;
  const heavy = HEAVY_LIBRARIES.filter((name) => loaded.includes(name));
  const ms = (values: number[]) => `${median(values).toFixed(0)} ms`;
  const mb = (values: number[]) => `${(median(values) / 1e6).toFixed(1)} MB`;
  console.log(`${measured.label}: ${samples.length} runs`);
  console.log(`  import weir + App + 1 AMQP route   median ${ms(samples.map((s) => s.importMs))}`);
  console.log(`  from process start (Node's boot)   median ${ms(samples.map((s) => s.totalMs))}`);
  console.log(`  RSS after                          median ${mb(samples.map((s) => s.rss))}`);
  console.log(`  heap used after                    median ${mb(samples.map((s) => s.heapUsed))}`);
  console.log(`  packages loaded                    ${loaded.length}`);
  console.log(`  heavy libraries loaded             ${heavy.length === 0 ? "none" : heavy.join(", ")}`);
}

async function main(): Promise<void> {
  const tsx = process.argv.includes("--src");
  const runs = Number(option("--runs") ?? 10);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a whole number >= 1");
  const path = join(ROOT, tsx ? "src/index.ts" : "dist/index.js");
  const baseline = option("--baseline");
  const entries = [
    entry(path.slice(ROOT.length + 1), path),
    ...(baseline === undefined ? [] : [entry(`baseline ${baseline}`, baseline)]),
  ];

  console.log(`cold start of a pure AMQP worker, node ${process.version}`);
  for (let i = 0; i < runs; i++) {
    for (const measured of entries) measured.samples.push(await sample(measured.url, tsx, false));
  }
  for (const measured of entries) {
    measured.loaded = (await sample(measured.url, tsx, true)).loaded ?? [];
    report(measured);
  }
}

await main();
