/**
 * One side of the SSE pair (bench/lib/sse-pair.ts): reads the n events of bench/runners/sse-server.ts
 * with a weir SSE route (`weir`: `bulkSize: 1`, a handler per event, weir decodes the JSON) or with
 * the `eventsource` package (`raw`: the client one would write by hand, an `onmessage` callback that
 * `JSON.parse`s the data; weir drives that package's parser, `eventsource-parser`, itself).
 * Both add up the ids. The window opens after the first tenth of the events (connection set-up and
 * JIT warm-up stay out of it) and closes at the n-th; the client's CPU (`process.cpuUsage()`,
 * every thread) is read at both ends. Prints one JSON line with the
 * result. Pinned to its own core by the orchestrator.
 *
 * Usage: sse-client <raw|weir> <base url> <n>
 */
import { EventSource } from "eventsource";
import { pino } from "pino";
import { App, RouteTypes, type SSEEvent } from "../../src/index.js";
import type { SseClientResult } from "../lib/sse-pair.js";

const [side, base, count] = process.argv.slice(2);
const n = Number(count);
if ((side !== "raw" && side !== "weir") || base === undefined || !(n > 0)) {
  throw new Error("usage: sse-client <raw|weir> <base url> <n>");
}

const warm = Math.floor(n / 10);
let seen = 0;
let sum = 0;
let startedAt = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
let finish: (result: SseClientResult) => void = () => {};
const finished = new Promise<SseClientResult>((resolve) => {
  finish = resolve;
});

/** Counts one event; the one after the warm-up opens the window, the n-th closes it. */
function count1(id: number): void {
  if (seen === warm) {
    cpuStart = process.cpuUsage();
    startedAt = performance.now();
  }
  seen++;
  sum += id;
  if (seen === n) {
    const elapsedMs = performance.now() - startedAt;
    const cpu = process.cpuUsage(cpuStart);
    finish({
      side: side ?? "",
      count: seen,
      sum,
      windowEvents: n - warm,
      elapsedMs,
      cpuUs: cpu.user + cpu.system,
    });
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`sse-client ${side}: ${seen} of ${n} events after 120 s\n`);
  process.exit(3);
}, 120_000);

let stop: () => Promise<void>;
if (side === "raw") {
  const source = new EventSource(`${base}/events`);
  source.onmessage = (event) => {
    count1((JSON.parse(event.data) as { id: number }).id);
  };
  stop = async () => source.close();
} else {
  const app = new App({ name: "weir-bench-sse", logger: pino({ level: "silent" }), sse: { url: base } });
  app.route(
    ["/events"],
    { type: RouteTypes.SSE, options: { bulkSize: 1 } },
    async (events: SSEEvent<{ id: number }>[]) => {
      for (const event of events) count1(event.body.id);
    },
  );
  await app.start();
  stop = () => app.stop();
}
const result = await finished;
clearTimeout(watchdog);
process.stdout.write(`${JSON.stringify(result)}\n`);
await stop();
process.exit(0);
