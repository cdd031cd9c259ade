import { type ChildProcess, spawn } from "node:child_process";
import { createInterface, type Interface } from "node:readline";

/** Processes started by the transport pairs that are still alive, ended if the harness is interrupted. */
const alive = new Set<ChildProcess>();

/** Ends every line process still alive (the harness itself is being interrupted). */
export function killLineProcesses(): void {
  for (const child of alive) child.kill("SIGKILL");
}

/**
 * A child process that talks in lines: the orchestrator writes commands to its stdin and reads its
 * answers from stdout, in order (the HTTP servers and SSE clients of the transport pairs). Ending
 * stdin asks it to close and exit.
 */
export class LineProcess {
  private readonly child: ChildProcess;
  private readonly lines: Interface;
  private readonly queued: string[] = [];
  private readonly waiting: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  private exited: Error | undefined;
  readonly exit: Promise<number | null>;

  constructor(argv: readonly string[], what: string) {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    this.child = child;
    alive.add(child);
    this.lines = createInterface({ input: child.stdout! });
    this.lines.on("line", (line) => {
      const next = this.waiting.shift();
      if (next) next.resolve(line);
      else this.queued.push(line);
    });
    this.exit = new Promise((resolve) => {
      child.on("close", (code) => {
        alive.delete(child);
        this.exited = new Error(`${what} exited with code ${code}`);
        for (const next of this.waiting.splice(0)) next.reject(this.exited);
        resolve(code);
      });
    });
  }

  /** The process id (its CPU time is in /proc/<pid>/stat). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The next line the process prints, waiting at most `timeoutMs`. */
  next(timeoutMs = 120_000): Promise<string> {
    const line = this.queued.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Ends stdin (the process closes and exits) and waits for the exit; kills it after `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}
