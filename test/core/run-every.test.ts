import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { type Logger, pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App, WeirError } from "../../src/index.js";

const SHUTDOWN_TIMEOUT = 1_000;

/** Log lines as parsed JSON, from a pino logger that writes to memory. */
function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A promise resolved from outside: a task run that ends when the test says so. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A task whose runs each wait for the test to end them; counts starts and the most runs at once. */
function controlledTask() {
  const runs: { resolve: () => void }[] = [];
  let inProgress = 0;
  let maxInProgress = 0;
  const task = async () => {
    const run = deferred();
    runs.push(run);
    inProgress += 1;
    maxInProgress = Math.max(maxInProgress, inProgress);
    await run.promise;
    inProgress -= 1;
  };
  return {
    task,
    runs,
    get started() {
      return runs.length;
    },
    get maxInProgress() {
      return maxInProgress;
    },
  };
}

const apps: App[] = [];

function newApp(logger: Logger = pino({ level: "silent" }), shutdownTimeout = SHUTDOWN_TIMEOUT): App {
  const app = new App({ logger, shutdownTimeout });
  apps.push(app);
  return app;
}

/** Lets promise callbacks (a finished run, its catch-up) happen without moving the fake clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe("app.runEvery", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(async () => {
    // Stops every app, then moves the clock past the deadline in case a test left a run hanging.
    const stopped = Promise.all(apps.splice(0).map((app) => app.stop()));
    await vi.advanceTimersByTimeAsync(SHUTDOWN_TIMEOUT);
    await stopped;
    vi.useRealTimers();
  });

  it("runs the task once at start, after the startup hooks, with the app", async () => {
    const app = newApp();
    const seen: unknown[] = [];
    app.onStartup((app) => {
      app.state.ready = true;
    });
    app.runEvery(1_000, (app) => {
      seen.push([app, app.state.ready, app.status]);
    });
    expect(seen).toHaveLength(0);
    await app.start();
    expect(seen).toEqual([[app, true, "running"]]);
  });

  it("runs once per tick over a known window, sync and async tasks alike", async () => {
    const app = newApp();
    let sync = 0;
    let async = 0;
    app.runEvery(100, () => {
      sync += 1;
    });
    app.runEvery(100, async () => {
      await Promise.resolve();
      async += 1;
    });
    await app.start();
    await vi.advanceTimersByTimeAsync(1_000);
    // The run at start plus ten ticks (100, 200, ..., 1000).
    expect(sync).toBe(11);
    expect(async).toBe(11);
    await vi.advanceTimersByTimeAsync(99);
    expect(sync).toBe(11);
    await vi.advanceTimersByTimeAsync(1);
    expect(sync).toBe(12);
  });

  it("skips busy ticks, starts one catch-up run when the slow run ends, and drops the rest", async () => {
    const app = newApp();
    const slow = controlledTask();
    app.runEvery(100, slow.task);
    await app.start();
    expect(slow.started).toBe(1);

    await vi.advanceTimersByTimeAsync(350); // ticks at 100, 200, 300 find the run busy
    expect(slow.started).toBe(1);

    slow.runs[0]!.resolve();
    await flush();
    expect(slow.started).toBe(2); // one catch-up at once, not three

    slow.runs[1]!.resolve();
    await flush();
    expect(slow.started).toBe(2); // the other missed ticks were dropped

    await vi.advanceTimersByTimeAsync(50); // the next tick, at 400, finds a free slot
    expect(slow.started).toBe(3);
    expect(slow.maxInProgress).toBe(1);
  });

  it("runs up to maxConcurrency at once", async () => {
    const app = newApp();
    const slow = controlledTask();
    app.runEvery(100, slow.task, { maxConcurrency: 2 });
    await app.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(slow.started).toBe(2);

    await vi.advanceTimersByTimeAsync(200); // 200 and 300: both slots busy
    expect(slow.started).toBe(2);

    slow.runs[0]!.resolve();
    await flush();
    expect(slow.started).toBe(3); // the catch-up

    slow.runs[1]!.resolve();
    await flush();
    expect(slow.started).toBe(3); // only one run is ever owed

    await vi.advanceTimersByTimeAsync(100); // 400: one slot free
    expect(slow.started).toBe(4);
    await vi.advanceTimersByTimeAsync(100); // 500: busy again
    expect(slow.started).toBe(4);
    expect(slow.maxInProgress).toBe(2);
  });

  it("logs a failing run through a child logger named after the task and keeps the schedule", async () => {
    const { logger, lines } = memoryLogger();
    const app = newApp(logger);
    let calls = 0;
    app.runEvery(100, async function refreshCache() {
      calls += 1;
      if (calls === 1) throw new Error("cache backend down");
    });
    app.runEvery(100, () => {
      throw new Error("sync failure");
    });
    await app.start();
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toBe(3);

    const failures = lines.filter((line) => line.msg === "periodic task failed");
    const named = failures.filter((line) => line.task === "refreshCache");
    expect(named).toHaveLength(1);
    expect(named[0]).toMatchObject({ level: 50, err: { message: "cache backend down" } });
    // An anonymous task is logged under the fallback name, once per failing run.
    const anonymous = failures.filter((line) => line.task === "periodic");
    expect(anonymous).toHaveLength(3);
    expect(anonymous[0]).toMatchObject({ err: { message: "sync failure" } });
  });

  it("stop() stops the ticks: no run starts after it", async () => {
    const app = newApp();
    let runs = 0;
    app.runEvery(100, () => {
      runs += 1;
    });
    await app.start();
    await vi.advanceTimersByTimeAsync(250);
    expect(runs).toBe(3);
    await app.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stop() waits for a running task, owes it no catch-up, then runs the shutdown hooks", async () => {
    const app = newApp();
    const slow = controlledTask();
    const events: string[] = [];
    app.runEvery(100, slow.task);
    app.onShutdown(() => {
      events.push("shutdown hook");
    });
    await app.start();
    await vi.advanceTimersByTimeAsync(150); // the tick at 100 is missed: one run owed
    let stopped = false;
    const stopping = app.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(SHUTDOWN_TIMEOUT / 2);
    expect(stopped).toBe(false);
    expect(events).toEqual([]);

    events.push("task done");
    slow.runs[0]!.resolve();
    await flush(); // no clock move: the stop ends because the run did, not because of the deadline
    expect(stopped).toBe(true);
    await stopping;
    expect(events).toEqual(["task done", "shutdown hook"]);
    expect(slow.started).toBe(1); // neither the owed run nor a tick started during the stop
  });

  it("abandons a task that never returns at shutdownTimeout, with a warning", async () => {
    const { logger, lines } = memoryLogger();
    const app = newApp(logger);
    app.runEvery(100, function stuck() {
      return new Promise(() => {});
    });
    await app.start();
    let stopped = false;
    const stopping = app.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(SHUTDOWN_TIMEOUT - 1);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(stopped).toBe(true);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, task: "stuck", msg: expect.stringContaining("abandoned") }),
    );
  });

  it("never runs a task when start() fails", async () => {
    const app = newApp();
    let runs = 0;
    app.onStartup(() => {
      throw new Error("no database");
    });
    app.runEvery(100, () => {
      runs += 1;
    });
    await expect(app.start()).rejects.toThrow("no database");
    await vi.advanceTimersByTimeAsync(500);
    expect(runs).toBe(0);
  });

  it("returns the task", () => {
    const app = newApp();
    const task = () => {};
    expect(app.runEvery(100, task)).toBe(task);
  });
});

describe("app.runEvery misuse fails at registration with a coded error", () => {
  const noop = () => {};
  function codeOf(fn: (app: App) => unknown, app = new App({ logger: pino({ level: "silent" }) })): string {
    try {
      fn(app);
    } catch (error) {
      expect(error).toBeInstanceOf(WeirError);
      return (error as WeirError).code;
    }
    return "no error";
  }

  const cases: [string, (app: App) => unknown, string][] = [
    ["interval 0", (app) => app.runEvery(0, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval 0.5", (app) => app.runEvery(0.5, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval -100", (app) => app.runEvery(-100, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval NaN", (app) => app.runEvery(Number.NaN, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval Infinity", (app) => app.runEvery(Number.POSITIVE_INFINITY, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval above 2^31-1", (app) => app.runEvery(2 ** 31, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval a string", (app) => app.runEvery("100" as never, noop), "WEIR_ERR_INVALID_OPTION"],
    ["interval missing", (app) => app.runEvery(undefined as never, noop), "WEIR_ERR_INVALID_OPTION"],
    ["task not a function", (app) => app.runEvery(100, "tick" as never), "WEIR_ERR_HANDLER_NOT_FUNCTION"],
    ["task missing", (app) => app.runEvery(100, undefined as never), "WEIR_ERR_HANDLER_NOT_FUNCTION"],
    ["maxConcurrency 0", (app) => app.runEvery(100, noop, { maxConcurrency: 0 }), "WEIR_ERR_INVALID_OPTION"],
    [
      "maxConcurrency 1.5",
      (app) => app.runEvery(100, noop, { maxConcurrency: 1.5 }),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "maxConcurrency a string",
      (app) => app.runEvery(100, noop, { maxConcurrency: "2" as never }),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "misspelled option",
      (app) => app.runEvery(100, noop, { maxconcurrency: 2 } as never),
      "WEIR_ERR_INVALID_OPTION",
    ],
  ];
  it.each(cases)("%s", (_name, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });

  it("names the bad option", () => {
    const app = new App({ logger: pino({ level: "silent" }) });
    expect(() => app.runEvery(100, noop, { maxConcurrency: 0 })).toThrow(
      expect.objectContaining({ option: "maxConcurrency" }),
    );
    expect(() => app.runEvery(0, noop)).toThrow(expect.objectContaining({ option: "intervalMs" }));
  });

  it("after start() and after stop(): WEIR_ERR_APP_STARTED", async () => {
    const app = new App({ logger: pino({ level: "silent" }) });
    await app.start();
    expect(codeOf((app) => app.runEvery(100, noop), app)).toBe("WEIR_ERR_APP_STARTED");
    await app.stop();
    expect(codeOf((app) => app.runEvery(100, noop), app)).toBe("WEIR_ERR_APP_STARTED");
  });
});

/** `promise`'s value, or "timeout" after `ms`: a child that hangs fails the test instead of stalling it. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a pure-periodic app in its own process (examples/05-run-every.ts)", () => {
  it("stays alive on its tick timer until SIGINT, then stops cleanly", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "examples/05-run-every.ts"], {
      env: { ...process.env, HEARTBEAT_MS: "20", WEIR_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const messages: string[] = [];
    let beats = 0;
    let onThirdBeat = () => {};
    const thirdBeat = new Promise<"beats">((resolve) => {
      onThirdBeat = () => resolve("beats");
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg: string };
      messages.push(entry.msg);
      if (entry.msg === "heartbeat" && ++beats === 3) onThirdBeat();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      // Without a ref'd timer the process would exit (code 13, unsettled top-level await) first.
      expect(await within(Promise.race([thirdBeat, exited]), 10_000)).toBe("beats");
      child.kill("SIGINT");
      expect(await within(exited, 10_000)).toBe(0);
      expect(messages).toContain("last heartbeat sent");
      expect(messages.at(-1)).toBe("stopped");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }, 30_000);
});
