import { type ChildProcess, spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DISTURBED_EXIT_CODE, RESULT_MARK, type RunResult, type RunSpec } from "./spec.js";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** `--profile` writes one V8 CPU profile per runner here (open it in Chrome DevTools). */
export const PROFILE_DIR = join(tmpdir(), "weir-bench-profiles");

/** Runners alive right now, ended if the harness itself is interrupted. */
const running = new Set<ChildProcess>();

export interface Child {
  /** Tells the runner (which has loaded its modules by then) to start its run. */
  go(): void;
  result: Promise<RunResult>;
  /** Ends a runner that is still waiting for `go` when its run failed before it started. */
  kill(): void;
}

/** Starts one side in a fresh process; it waits for `go()`, then prints its result. */
export function startChild(spec: RunSpec, profile: boolean, compiled?: string): Child {
  // Compiled runners (bench/lib/compile.ts) run on plain node, as a production worker does.
  const runner =
    compiled === undefined
      ? join(ROOT, "bench", "runners", `${spec.side}.ts`)
      : join(compiled, "bench", "runners", `${spec.side}.js`);
  const execArgv = compiled === undefined ? ["--import", "tsx"] : [];
  if (profile) execArgv.push("--cpu-prof", "--cpu-prof-dir", PROFILE_DIR);
  // e.g. WEIR_BENCH_WRAP="strace -f -c -o /tmp/syscalls" to look at a runner from outside.
  const wrap = process.env.WEIR_BENCH_WRAP?.split(" ").filter(Boolean) ?? [];
  const command = [...wrap, process.execPath, ...execArgv, runner, JSON.stringify(spec)];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  running.add(child);
  child.on("exit", () => running.delete(child));
  const result = new Promise<RunResult>((resolve, reject) => {
    let stdout = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const line = stdout.split("\n").find((candidate) => candidate.startsWith(RESULT_MARK));
      if (code === DISTURBED_EXIT_CODE) {
        reject(new Disturbed(`${spec.side} runner was disturbed`));
        return;
      }
      if (code !== 0 || line === undefined) {
        reject(new Error(`${spec.side} runner exited with code ${code}${line ? "" : " and no result"}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_MARK.length)) as RunResult);
    });
  });
  // A runner that dies early must not leave an unhandled rejection while the preload still runs.
  result.catch(() => {});
  return {
    go: () => child.stdin.end("go\n"),
    result,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** The run was voided from outside (its channel closed under it); it is repeated. */
export class Disturbed extends Error {}

/** Ends every runner still alive (the harness itself is being interrupted). */
export function killRunners(): void {
  for (const child of running) child.kill("SIGKILL");
}
