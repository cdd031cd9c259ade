import { type ChildProcess, spawn } from "node:child_process";

/** The CLI as the repository runs it (docs/cli.md): node with tsx's loader, on src/cli/main.ts. */
export const CLI = ["--import", "tsx", "src/cli/main.ts"];

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `weir <args>` to completion (killed after `timeoutMs`). */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`weir ${args.join(" ")} did not exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/** Runs `weir` once per argument list, at most `concurrency` at a time; results in the same order. */
export async function runCliMany(
  argsList: readonly (readonly string[])[],
  concurrency = 4,
): Promise<CliResult[]> {
  const results: CliResult[] = new Array(argsList.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let index = next++; index < argsList.length; index = next++) {
      results[index] = await runCli(argsList[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, argsList.length) }, lane));
  return results;
}

/** A long-running `weir` (run): its output as it comes, and a way to signal and await it. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  /** `wrapper`: a command that runs the CLI (e.g. `ip netns exec <ns>`, test/helpers/netns.ts). */
  constructor(args: readonly string[], env: Record<string, string> = {}, wrapper: readonly string[] = []) {
    const [command, ...prefix] = [...wrapper, process.execPath];
    this.child = spawn(command!, [...prefix, ...CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (chunk: Buffer) => {
      this.stdout += chunk.toString();
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => setImmediate(() => resolve({ code, signal })));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** pino's JSON lines on stdout with `msg === message`. */
  logs(message: string): Array<Record<string, unknown>> {
    return this.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === message);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Whether a process still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
