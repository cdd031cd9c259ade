import cluster, { type Worker } from "node:cluster";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readEnvFile } from "./env-file.js";
import { CLIError, ModuleError } from "./errors.js";
import { say } from "./output.js";
import { MODULE_ENV, WORKER_ID_ENV } from "./run.js";
import { watchTree } from "./watch.js";

/** Two signals closer than this are one request (the terminal's and a parent's forward). */
const SIGNAL_ECHO_MS = 1_000;

/**
 * `weir run --watch <module>`: the development loop. A primary that never loads the module runs
 * its app in worker processes (one, or `--workers N`) and, when a file under the module's folder
 * changes, restarts them: each is sent SIGTERM and drains as `app.stop()` does, and the new ones
 * start only once every old one has exited, so two generations never consume side by side.
 *
 * Why not `node --watch-path`: it restarts the same way (SIGTERM, wait for the exit), but it adds a
 * process between the terminal and the app, so a Ctrl-C reaches the app twice (from the terminal
 * and forwarded), and its recursive watch of a project root watches every file of node_modules.
 * weir's workers already treat a second signal as the same stop (see `runWorker`).
 *
 * A worker that exits on its own (a syntax error, a crash) is not restarted until the next change.
 * The env file, when given, is read again at every restart: an edit to it takes effect.
 */
export function runWatched(modulePath: string, count: number, envFile: string | undefined): Promise<number> {
  if (!cluster.isPrimary) {
    throw new CLIError("WEIR_ERR_CLI_WORKERS", "--watch can only be used by a primary process");
  }
  const file = resolve(process.cwd(), modulePath);
  if (!existsSync(file)) throw new ModuleError("WEIR_ERR_CLI_MODULE", `module not found: ${modulePath}`);
  const folder = dirname(file);
  const live = new Map<number, Worker>();
  let restartPending = false;
  let stopping = false;
  let failed = false;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolveDone) => {
    finish = resolveDone;
  });

  const spawnAll = (): void => {
    // Read before forking: a broken env file is reported, and the workers keep the last good one.
    let env: Record<string, string> = {};
    try {
      env = envFile === undefined ? {} : readEnvFile(envFile);
    } catch (error) {
      say(`${(error as Error).message}; waiting for a change`);
      return;
    }
    for (let id = 1; id <= count; id++) {
      const worker = cluster.fork({ ...env, [MODULE_ENV]: file, [WORKER_ID_ENV]: String(id) });
      live.set(id, worker);
      worker.on("message", (message: unknown) => {
        if ((message as { weir?: unknown } | null)?.weir === "ready") {
          say(`worker ${id} (pid ${worker.process.pid}) ready`);
        }
      });
      worker.on("exit", (code, signal) => onExit(id, worker, code, signal));
    }
  };

  const onExit = (id: number, worker: Worker, code: number | null, signal: string | null): void => {
    if (live.get(id) === worker) live.delete(id);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const asked = stopping || restartPending;
    // As for `weir run --workers`: the final stop is clean when every worker drained and exited 0.
    if (stopping && code !== 0 && signal !== "SIGTERM") failed = true;
    say(`worker ${id} (pid ${worker.process.pid}) exited (${how})${asked ? "" : "; waiting for a change"}`);
    if (live.size > 0) return;
    if (stopping) {
      finish(failed ? 1 : 0);
    } else if (restartPending) {
      restartPending = false;
      spawnAll();
    }
  };

  const stopWatching = watchTree(folder, (changed) => {
    if (stopping) return;
    if (live.size === 0) {
      say(`${changed} changed: starting`);
      spawnAll();
      return;
    }
    if (restartPending) return;
    restartPending = true;
    say(`${changed} changed: restarting (the running worker drains first)`);
    for (const worker of live.values()) worker.process.kill("SIGTERM");
  });

  // As in `app.run()`: a second signal within 1 s is the same stop (a forwarding parent such as npm
  // sends one more); a third, or a second one later, kills the workers.
  let firstSignalAt: number | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (firstSignalAt !== undefined) {
      if (signals === 2 && performance.now() - firstSignalAt <= SIGNAL_ECHO_MS) return;
      say(`${signal} again: killing the workers`);
      for (const worker of live.values()) worker.process.kill("SIGKILL");
      process.exit(130);
    }
    firstSignalAt = performance.now();
    stopping = true;
    stopWatching();
    say(`${signal}: stopping; the worker drains first (a repeated signal forces)`);
    for (const worker of live.values()) worker.process.kill("SIGTERM");
    if (live.size === 0) finish(failed ? 1 : 0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  say(`running ${modulePath}, watching ${folder} (primary pid ${process.pid}); a change restarts it`);
  spawnAll();
  return done.finally(() => {
    stopWatching();
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  });
}
