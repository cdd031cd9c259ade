/**
 * Where a runner's time went, from the V8 CPU profile `npm run bench -- --profile` wrote:
 *
 *   npx tsx bench/profile.ts <file.cpuprofile> [startUs:endUs] [--top 30]
 *
 * With a window (the run's `windowUs`, printed by the harness), only the samples taken between the
 * first delivery and the last ack count, so process start-up and module loading do not blur it.
 * Prints self time by function and by file, and inclusive time by function.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

function short(url: string): string {
  return url.replace(/^.*node_modules\//, "").replace(/^.*?\/(src|bench)\//, "$1/");
}

function label(node: ProfileNode): string {
  const frame = node.callFrame;
  const where = frame.url ? ` ${short(frame.url)}:${frame.lineNumber + 1}` : "";
  return `${frame.functionName || "(anonymous)"}${where}`;
}

function print(title: string, totals: Map<string, number>, all: number, top: number): void {
  console.log(`\n${title}`);
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of rows) {
    console.log(
      `${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / all).toFixed(1).padStart(5)} %  ${key}`,
    );
  }
}

function main(): void {
  const positional = process.argv
    .slice(2)
    .filter((arg, i, all) => !arg.startsWith("--") && all[i - 1] !== "--top");
  const topIndex = process.argv.indexOf("--top");
  const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 30;
  const [file, window] = positional;
  if (file === undefined)
    throw new Error("usage: bench/profile.ts <file.cpuprofile> [startUs:endUs] [--top n]");
  const [from, to] = window
    ? window.split(":").map(Number)
    : [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

  // A sample's time is the gap to the next one; its timestamp is the running sum of the deltas.
  const selfByNode = new Map<number, number>();
  let at = profile.startTime;
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (at < (from ?? 0) || at > (to ?? 0)) continue;
    const id = profile.samples[i] ?? 0;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + duration);
    all += duration;
  }

  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfByNode) {
    const node = nodes.get(id);
    if (node === undefined) continue;
    const key = label(node);
    self.set(key, (self.get(key) ?? 0) + us);
    const fileKey = node.callFrame.url ? short(node.callFrame.url) : key;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
    // Count each function once per stack, however deep the recursion.
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
      const frame = nodes.get(current);
      if (frame === undefined) break;
      const frameKey = label(frame);
      if (seen.has(frameKey)) continue;
      seen.add(frameKey);
      inclusive.set(frameKey, (inclusive.get(frameKey) ?? 0) + us);
    }
  }
  console.log(`${file}: ${(all / 1000).toFixed(0)} ms sampled${window ? ` in window ${window}` : ""}`);
  print("self time by function", self, all, top);
  print("self time by file", byFile, all, top);
  print("inclusive time by function", inclusive, all, top);
}

main();
