import cluster, { type Worker } from "node:cluster";
import { resolve } from "node:path";
import type { App } from "../app.js";
import { LifecycleError } from "../core/errors.js";
import { CLIError, ModuleError } from "./errors.js";
import { loadApp } from "./load.js";
import { describeFailure, say } from "./output.js";

/**
 * `weir run`: one process, or a primary that supervises N workers (node:cluster).
 *
 * The workers share nothing but the broker: each runs the whole app, with its own connection and
 * channels, so the queues' messages are spread over them as competing consumers (RabbitMQ
 * round-robins deliveries within each consumer's prefetch). The primary never loads the module: it
 * forwards SIGTERM/SIGINT to every worker (each drains and stops as `app.run()` would), restarts a
 * worker that dies on its own with exponential backoff, and exits once all workers have exited.
 */

/** The environment a worker finds its module in (set by the primary, read by `runWorker`). */
export const MODULE_ENV = "WEIR_RUN_MODULE";
/** 1..N: which worker this is, for logs and per-worker settings. */
export const WORKER_ID_ENV = "WEIR_WORKER_ID";
/** Restart backoff: 0.5 s doubling up to 30 s; reset once a worker has run for a minute. */
const RESTART_FLOOR_MS = 500;
const RESTART_CEILING_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;
/** With no worker ever ready, each slot may fail this many times before the primary gives up. */
const BOOT_ATTEMPTS = 3;

/** Whether this process is a `weir run` worker. */
export function isRunWorker(): boolean {
  return cluster.isWorker && process.env[MODULE_ENV] !== undefined;
}

/** `weir run <module>` in this process: `app.run()` (a second signal exits at once, code 130). */
export async function runSingle(modulePath: string): Promise<number> {
  const app = await loadApp(modulePath);
  say(`running ${modulePath} (pid ${process.pid}); SIGTERM or Ctrl-C stops it`);
  await app.run();
  // run() ends a failed start by setting the exit code (1) rather than exiting mid-write.
  return typeof process.exitCode === "number" ? process.exitCode : 0;
}

/**
 * A worker: starts the app, tells the primary it is ready, and stops it on SIGTERM or SIGINT. (A lost primary ends a worker at once: Node's cluster exits a worker
 * whose IPC channel drops, and the broker redelivers what it held.) Unlike `app.run()`, a second signal does not force an
 * exit: a Ctrl-C in a terminal reaches every process of the group *and* the primary forwards a
 * SIGTERM, and that pair must still drain. Forcing is the primary's job (its second signal).
 */
export async function runWorker(): Promise<number> {
  try {
    return await workerLife();
  } finally {
    // The IPC channel to the primary keeps a worker alive: close it so the process can end.
    if (process.connected) process.disconnect();
  }
}

async function workerLife(): Promise<number> {
  const modulePath = process.env[MODULE_ENV]!;
  const id = process.env[WORKER_ID_ENV] ?? "?";
  let app: App;
  try {
    app = await loadApp(modulePath);
  } catch (error) {
    say(`worker ${id}: ${describeFailure(error)}`);
    return error instanceof ModuleError ? 2 : 1;
  }
  let requestStop!: () => void;
  const stopRequested = new Promise<void>((resolveStop) => {
    requestStop = resolveStop;
  });
  const stop = (): void => {
    requestStop();
    void app.stop();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    await app.start();
  } catch (error) {
    if (error instanceof LifecycleError && error.code === "WEIR_ERR_STOPPED_DURING_START") return 0;
    say(`worker ${id}: start failed: ${describeFailure(error)}`);
    await app.stop();
    return 1;
  }
  process.send?.({ weir: "ready" });
  await stopRequested;
  await app.stop();
  return 0;
}

interface Slot {
  readonly id: number;
  worker: Worker | undefined;
  readyAt: number | undefined;
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/** The primary of `weir run <module> --workers N`; resolves with the exit code. */
export function runCluster(modulePath: string, count: number): Promise<number> {
  const file = resolve(process.cwd(), modulePath);
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    worker: undefined,
    readyAt: undefined,
    failures: 0,
    restart: undefined,
  }));
  let stopping = false;
  let anyReady = false;
  let failedExit = false;
  /** Set when the primary gives up on its own (not on a signal). */
  let exitCode: number | undefined;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolveDone) => {
    finish = resolveDone;
  });

  const live = (): Worker[] => slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));

  const stopAll = (signal: NodeJS.Signals): void => {
    for (const slot of slots) {
      clearTimeout(slot.restart);
      slot.restart = undefined;
    }
    for (const worker of live()) worker.process.kill(signal);
    if (live().length === 0) finish(exitCode ?? (failedExit ? 1 : 0));
  };

  const giveUp = (code: number, why: string): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    say(why);
    stopAll("SIGTERM");
  };

  const spawn = (slot: Slot): void => {
    slot.restart = undefined;
    slot.readyAt = undefined;
    const worker = cluster.fork({ [MODULE_ENV]: file, [WORKER_ID_ENV]: String(slot.id) });
    slot.worker = worker;
    worker.on("message", (message: unknown) => {
      if ((message as { weir?: unknown } | null)?.weir !== "ready") return;
      slot.readyAt = Date.now();
      anyReady = true;
      say(`worker ${slot.id} (pid ${worker.process.pid}) ready`);
      // A stop that came while it was starting: it is ready now, so it can drain.
      if (stopping) worker.process.kill("SIGTERM");
    });
    worker.on("exit", (code, signal) => onExit(slot, worker, code, signal));
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker === worker) slot.worker = undefined;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (stopping) {
      // A worker still loading its module has no handler yet: the forwarded SIGTERM ends it, cleanly.
      const stoppedEarly = signal === "SIGTERM" && slot.readyAt === undefined;
      if (code !== 0 && !stoppedEarly) failedExit = true;
      say(`worker ${slot.id} (pid ${worker.process.pid}) exited (${how})`);
      if (live().length === 0) finish(exitCode ?? (failedExit ? 1 : 0));
      return;
    }
    if (code === 2 && !anyReady) {
      giveUp(2, `worker ${slot.id} could not load ${modulePath}; stopping`);
      return;
    }
    const ranFor = slot.readyAt === undefined ? 0 : Date.now() - slot.readyAt;
    slot.failures = ranFor >= HEALTHY_AFTER_MS ? 1 : slot.failures + 1;
    if (!anyReady && slots.every((each) => each.failures >= BOOT_ATTEMPTS)) {
      giveUp(1, `no worker could start after ${BOOT_ATTEMPTS} attempts each; stopping`);
      return;
    }
    const delay = Math.min(RESTART_CEILING_MS, RESTART_FLOOR_MS * 2 ** (slot.failures - 1));
    say(`worker ${slot.id} (pid ${worker.process.pid}) exited (${how}); restarting in ${delay} ms`);
    slot.restart = setTimeout(() => {
      if (!stopping) spawn(slot);
    }, delay);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      say(`second ${signal}: killing the workers`);
      for (const worker of live()) worker.process.kill("SIGKILL");
      process.exit(130);
    }
    stopping = true;
    say(`${signal}: stopping ${live().length} worker(s); they drain first (again to force)`);
    stopAll("SIGTERM");
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  if (!cluster.isPrimary)
    throw new CLIError("WEIR_ERR_CLI_WORKERS", "--workers can only be used by a primary process");
  say(`running ${modulePath} with ${count} workers (primary pid ${process.pid})`);
  for (const slot of slots) spawn(slot);
  return done.finally(() => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  });
}
