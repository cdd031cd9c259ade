import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** A weir worker in its own process (test/faults/worker.ts), with what it printed. */
export class ChildWorker {
  readonly started: number[][] = [];
  readonly done: number[][] = [];
  ready = false;
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly process: ChildProcess;
  private readonly exit: Promise<void>;

  /** Every line it printed (a worker of another transport prints more than start / done). */
  readonly lines: string[] = [];

  /** `script`: the worker to run (another transport's, e.g. test/redis/worker.ts). */
  constructor(env: Record<string, string>, script = "test/faults/worker.ts") {
    this.process = spawn(process.execPath, ["--import", "tsx", script], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const parse = (rest: string) => rest.split(",").map(Number);
    createInterface({ input: this.process.stdout! }).on("line", (line) => {
      this.lines.push(line);
      if (line === "ready") this.ready = true;
      else if (line.startsWith("start ")) this.started.push(parse(line.slice(6)));
      else if (line.startsWith("done ")) this.done.push(parse(line.slice(5)));
    });
    this.exit = new Promise((resolve) => {
      this.process.on("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
    });
  }

  get doneIds(): number[] {
    return this.done.flat();
  }

  kill(signal: NodeJS.Signals): void {
    this.process.kill(signal);
  }

  /** Waits for the process to exit, at most `timeoutMs` (then kills it and throws). */
  async waitExit(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.process.kill("SIGKILL");
      throw new Error(`worker did not exit within ${timeoutMs} ms`);
    }
  }
}
