import { type ChildProcess, spawn } from "node:child_process";

export interface FixtureResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A process under test, with what it printed so far. */
export class RunningProcess {
  stdout = "";
  stderr = "";
  readonly exit: Promise<FixtureResult>;
  private readonly child: ChildProcess;

  /**
   * `detached` puts the process in a process group of its own, as a terminal does with the command
   * it runs, so `signalGroup` reaches it and its children the way Ctrl-C does.
   */
  constructor(command: string, args: readonly string[], env: Record<string, string>, detached = false) {
    this.child = spawn(command, args, {
      env: { ...process.env, WEIR_LOG_FORMAT: "json", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached,
    });
    this.child.stdout!.on("data", (chunk: Buffer) => {
      this.stdout += chunk.toString("utf8");
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString("utf8");
    });
    // 'close', not 'exit': it comes once the pipes are drained too (and every process holding them
    // has ended, so an orphaned child keeps it from coming).
    this.exit = new Promise((resolve) => {
      this.child.on("close", (code, signal) =>
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }),
      );
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Sends `signal` to the process itself. */
  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  /** Sends `signal` to the process's whole group (it must be `detached`), as a terminal's Ctrl-C. */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }

  /** Waits until stdout matches `pattern`; fails after `timeoutMs` or if the process ends first. */
  async waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let ended = false;
    void this.exit.then(() => {
      ended = true;
    });
    while (!pattern.test(this.stdout)) {
      if (ended) throw new Error(`exited before printing ${pattern}: ${this.stdout}${this.stderr}`);
      if (Date.now() > end)
        throw new Error(`no ${pattern} within ${timeoutMs} ms: ${this.stdout}${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The exit, at most `timeoutMs` away: after that the process (and its group) is killed and it fails. */
  async waitExit(timeoutMs = 20_000): Promise<FixtureResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.kill();
      throw new Error(`did not exit within ${timeoutMs} ms: ${this.stdout}${this.stderr}`);
    }
    return result;
  }

  /** SIGKILL to the process and, when it leads a group, to the group: nothing outlives the test. */
  kill(): void {
    for (const target of [-this.pid, this.pid]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Already gone, or not a group leader.
      }
    }
  }

  /** Whether any process of its group is still alive. */
  groupAlive(): boolean {
    try {
      process.kill(-this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** Starts a TypeScript file in its own Node process, through tsx. */
export function startFixture(
  file: string,
  env: Record<string, string> = {},
  detached = false,
): RunningProcess {
  return new RunningProcess(process.execPath, ["--import", "tsx", file], env, detached);
}

/**
 * Runs a TypeScript file in its own Node process (through tsx) and collects what it printed. Killed
 * (SIGKILL) and failed after `timeoutMs`, so a fixture that hangs cannot hang the suite.
 */
export function runFixture(
  file: string,
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<FixtureResult> {
  return startFixture(file, env).waitExit(timeoutMs);
}

/** The JSON lines of a fixture's output (other lines are ignored). */
export function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
