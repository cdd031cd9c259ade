import type { Logger } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type Action,
  ActionQueue,
  ActionQueueStateError,
  ActionRetryError,
  DoublingBackoff,
} from "../../src/utils/action-queue.js";

function fakeLogger() {
  const error = vi.fn();
  const warn = vi.fn();
  return { logger: { error, warn, info: vi.fn(), debug: vi.fn() } as unknown as Logger, error, warn };
}

/** An action that logs its calls; `failExecute` / `failRollback` make the matching method throw. */
function recordingAction(
  name: string,
  log: string[],
  behaviour: { failExecute?: unknown; failRollback?: unknown; async?: boolean } = {},
): Action {
  const step = (what: string, failure: unknown) => {
    log.push(`${what} ${name}`);
    if (failure !== undefined) throw failure;
  };
  if (behaviour.async) {
    return {
      execute: async () => step("execute", behaviour.failExecute),
      rollback: async () => step("rollback", behaviour.failRollback),
    };
  }
  return {
    execute: () => step("execute", behaviour.failExecute),
    rollback: () => step("rollback", behaviour.failRollback),
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("ActionQueue.execute", () => {
  it("runs sync and async actions in the order they were added", async () => {
    const log: string[] = [];
    const queue = new ActionQueue({ logger: fakeLogger().logger })
      .add(recordingAction("a", log))
      .add(recordingAction("b", log, { async: true }))
      .add(recordingAction("c", log));

    await queue.execute();

    expect(log).toEqual(["execute a", "execute b", "execute c"]);
    expect(queue.executedCount).toBe(3);
  });

  it("waits for each async action before starting the next", async () => {
    const log: string[] = [];
    const slow: Action = {
      execute: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        log.push("slow done");
      },
      rollback: () => undefined,
    };
    await new ActionQueue().add(slow).add(recordingAction("next", log)).execute();
    expect(log).toEqual(["slow done", "execute next"]);
  });

  it("stops at the first failure, remembers how far it got and rethrows the same error", async () => {
    const log: string[] = [];
    const boom = new Error("b failed");
    const queue = new ActionQueue()
      .add(recordingAction("a", log))
      .add(recordingAction("b", log, { failExecute: boom, async: true }))
      .add(recordingAction("c", log));

    await expect(queue.execute()).rejects.toBe(boom);

    expect(log).toEqual(["execute a", "execute b"]);
    expect(queue.executedCount).toBe(2);
  });

  it("returns the same promise when called twice, so actions never run twice", async () => {
    const log: string[] = [];
    const queue = new ActionQueue().add(recordingAction("a", log));
    const first = queue.execute();
    expect(queue.execute()).toBe(first);
    await first;
    expect(log).toEqual(["execute a"]);
  });
});

describe("ActionQueue.rollback", () => {
  it("rolls back every executed action, the failing one included, in reverse order", async () => {
    const log: string[] = [];
    const queue = new ActionQueue()
      .add(recordingAction("a", log))
      .add(recordingAction("b", log, { async: true }))
      .add(recordingAction("c", log, { failExecute: new Error("c") }))
      .add(recordingAction("d", log));

    await queue.execute().catch(() => undefined);
    const report = await queue.rollback();

    expect(log).toEqual(["execute a", "execute b", "execute c", "rollback c", "rollback b", "rollback a"]);
    expect(report).toEqual({ rolledBack: 3, failures: [] });
  });

  it("can undo a queue that succeeded", async () => {
    const log: string[] = [];
    const queue = new ActionQueue().add(recordingAction("a", log)).add(recordingAction("b", log));
    await queue.execute();
    await queue.rollback();
    expect(log).toEqual(["execute a", "execute b", "rollback b", "rollback a"]);
  });

  it("logs a failing rollback and still rolls back the others", async () => {
    const log: string[] = [];
    const { logger, error } = fakeLogger();
    const rollbackError = new Error("cannot undo b");
    const b = recordingAction("b", log, { failRollback: rollbackError, async: true });
    const queue = new ActionQueue({ logger })
      .add(recordingAction("a", log))
      .add(b)
      .add(recordingAction("c", log, { failExecute: new Error("c") }));

    await queue.execute().catch(() => undefined);
    const report = await queue.rollback();

    expect(log).toEqual(["execute a", "execute b", "execute c", "rollback c", "rollback b", "rollback a"]);
    expect(report.rolledBack).toBe(2);
    expect(report.failures).toEqual([{ action: b, index: 1, error: rollbackError }]);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]![0]).toMatchObject({ err: rollbackError, action: 1 });
  });

  it("does nothing before execute(), and then forbids execute()", async () => {
    const log: string[] = [];
    const queue = new ActionQueue().add(recordingAction("a", log));
    expect(await queue.rollback()).toEqual({ rolledBack: 0, failures: [] });
    await expect(queue.execute()).rejects.toBeInstanceOf(ActionQueueStateError);
    await expect(queue.execute()).rejects.toMatchObject({ code: "WEIR_ERR_ACTION_QUEUE_STATE" });
    expect(log).toEqual([]);
  });

  it("waits for a running execute() before undoing anything", async () => {
    const log: string[] = [];
    const slow: Action = {
      execute: async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        log.push("execute slow");
      },
      rollback: () => log.push("rollback slow"),
    };
    const queue = new ActionQueue().add(slow);
    const execution = queue.execute();
    const rollback = queue.rollback();
    expect(queue.rollback()).toBe(rollback);
    await Promise.all([execution, rollback]);
    expect(log).toEqual(["execute slow", "rollback slow"]);
  });
});

describe("ActionRetryError", () => {
  it("makes the queue wait backoffMs and call execute again while it is thrown", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const { logger, warn } = fakeLogger();
    const flaky: Action = {
      execute: () => {
        calls += 1;
        if (calls < 3) throw new ActionRetryError({ backoffMs: 100 });
      },
      rollback: () => undefined,
    };
    const done = new ActionQueue({ logger }).add(flaky).execute();

    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(3);
    await done;
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it("retries rollback too", async () => {
    vi.useFakeTimers();
    let rollbacks = 0;
    const action: Action = {
      execute: () => {
        throw new Error("fail");
      },
      rollback: async () => {
        rollbacks += 1;
        if (rollbacks < 4) throw new ActionRetryError({ backoffMs: 50 });
      },
    };
    const queue = new ActionQueue({ logger: fakeLogger().logger }).add(action);
    await queue.execute().catch(() => undefined);
    const report = queue.rollback();
    await vi.advanceTimersByTimeAsync(149);
    expect(rollbacks).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(await report).toEqual({ rolledBack: 1, failures: [] });
    expect(rollbacks).toBe(4);
  });

  it("exposes the delay as backoffMs, defaulting to 0, and validates it", () => {
    expect(new ActionRetryError({ backoffMs: 250 }).backoffMs).toBe(250);
    expect(new ActionRetryError().backoffMs).toBe(0);
    expect(new ActionRetryError().code).toBe("WEIR_ERR_ACTION_RETRY");
    expect(() => new ActionRetryError({ backoffMs: -1 })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "backoffMs" }),
    );
  });
});

describe("DoublingBackoff", () => {
  function delays(backoff: DoublingBackoff, original: unknown, calls: number): unknown[] {
    const thrown: unknown[] = [];
    for (let i = 0; i < calls; i += 1) {
      try {
        backoff.raise(original);
      } catch (error) {
        thrown.push(error instanceof ActionRetryError ? error.backoffMs : error);
      }
    }
    return thrown;
  }

  it("throws ActionRetryError with doubling delays `retries` times, then the original error", () => {
    const original = new RangeError("division by zero");
    const backoff = new DoublingBackoff({ retries: 5, initialBackoffMs: 100 });
    expect(delays(backoff, original, 7)).toEqual([100, 200, 400, 800, 1600, original, original]);
    expect(backoff.retriesLeft).toBe(0);
  });

  it("keeps the original error as the retry's cause, and can be reset", () => {
    const original = new Error("x");
    const backoff = new DoublingBackoff({ retries: 1, initialBackoffMs: 10 });
    expect(() => backoff.raise(original)).toThrow(
      expect.objectContaining({ cause: original, backoffMs: 10 }),
    );
    expect(() => backoff.raise(original)).toThrow(original);
    backoff.reset();
    expect(delays(backoff, original, 2)).toEqual([10, original]);
  });

  it("with zero retries throws the original error at once", () => {
    const original = new Error("x");
    expect(delays(new DoublingBackoff({ retries: 0 }), original, 1)).toEqual([original]);
  });

  it("defaults to 5 retries from 100 ms and is a Backoff", () => {
    const backoff = new DoublingBackoff();
    expect([0, 1, 2, 3].map((n) => backoff.get(n))).toEqual([0, 100, 200, 400]);
    expect(delays(backoff, "e", 6)).toEqual([100, 200, 400, 800, 1600, "e"]);
  });

  it("validates its options", () => {
    expect(() => new DoublingBackoff({ retries: -1 })).toThrow(
      expect.objectContaining({ option: "retries" }),
    );
    expect(() => new DoublingBackoff({ retries: 1.5 })).toThrow(
      expect.objectContaining({ option: "retries" }),
    );
    expect(() => new DoublingBackoff({ initialBackoffMs: Number.NaN })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "initialBackoffMs" }),
    );
  });

  it("drives a queue: waits 100 + 200 + 400 ms, then fails with the original error", async () => {
    vi.useFakeTimers();
    const original = new Error("remote down");
    let calls = 0;
    const retries = new DoublingBackoff({ retries: 3, initialBackoffMs: 100 });
    const action: Action = {
      execute: () => {
        calls += 1;
        retries.raise(original);
      },
      rollback: () => undefined,
    };
    const outcome = new ActionQueue({ logger: fakeLogger().logger }).add(action).execute();
    const settled = outcome.catch((error: unknown) => error);

    await vi.advanceTimersByTimeAsync(699);
    expect(calls).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled).toBe(original);
    expect(calls).toBe(4);
  });
});

describe("misuse", () => {
  it("refuses an action without execute or rollback", () => {
    const queue = new ActionQueue();
    expect(() => queue.add({ execute: () => undefined } as unknown as Action)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_HANDLER_NOT_FUNCTION" }),
    );
    expect(() => queue.add(undefined as unknown as Action)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_HANDLER_NOT_FUNCTION" }),
    );
  });

  it("refuses add() after execute()", async () => {
    const queue = new ActionQueue().add({ execute: () => undefined, rollback: () => undefined });
    await queue.execute();
    expect(() => queue.add({ execute: () => undefined, rollback: () => undefined })).toThrow(
      ActionQueueStateError,
    );
  });
});
