import type { Logger } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DuplicateTransactionError,
  MeasurementClosedError,
  Timeit,
  TimeitCallbackError,
  type TimeitReport,
} from "../../src/utils/timeit.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function recorder() {
  const reports: TimeitReport[] = [];
  const callback = vi.fn(async (report: TimeitReport) => {
    reports.push(report);
  });
  return { reports, callback };
}

function fakeLogger() {
  const error = vi.fn();
  return { logger: { error, warn: vi.fn(), info: vi.fn(), debug: vi.fn() } as unknown as Logger, error };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Timeit.run", () => {
  it("reports the outermost transaction once, in seconds, and returns the result", async () => {
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "xablau", callback });

    const result = await timeit.run(async () => {
      await sleep(30);
      return 42;
    });

    expect(result).toBe(42);
    expect(callback).toHaveBeenCalledTimes(1);
    expect(Object.keys(reports[0]!.transactions)).toEqual(["xablau"]);
    expect(reports[0]!.transactions.xablau).toBeGreaterThanOrEqual(0.025);
    expect(reports[0]!.transactions.xablau).toBeLessThan(1);
    expect(reports[0]).not.toHaveProperty("error");
  });

  it("awaits the async callback before resolving", async () => {
    const order: string[] = [];
    const timeit = new Timeit({
      name: "a",
      callback: async () => {
        await sleep(20);
        order.push("callback");
      },
    });
    await timeit.run(() => order.push("body"));
    order.push("after run");
    expect(order).toEqual(["body", "callback", "after run"]);
  });

  it("nests a ⊃ b ⊃ c through the parent into one record, with a >= b >= c", async () => {
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "a", callback });

    await timeit.run(async (a) => {
      await sleep(20);
      await a.child("b").run(async (b) => {
        await sleep(20);
        await b.child("c").run(() => sleep(20));
      });
    });

    expect(callback).toHaveBeenCalledTimes(1);
    const { a, b, c } = reports[0]!.transactions;
    // Inner transactions end first, as in the seed's output ({c, b, a}).
    expect(Object.keys(reports[0]!.transactions)).toEqual(["c", "b", "a"]);
    expect(c).toBeGreaterThanOrEqual(0.015);
    expect(b).toBeGreaterThanOrEqual(c!);
    expect(a).toBeGreaterThanOrEqual(b!);
    expect(b! - c!).toBeGreaterThanOrEqual(0.015);
    expect(a! - b!).toBeGreaterThanOrEqual(0.015);
  });

  it("measures exact durations on a faked monotonic clock", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "performance"] });
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "a", callback });

    const done = timeit.run(async (a) => {
      await sleep(100);
      await a.child("b").run(async (b) => {
        await sleep(100);
        await b.child("c").run(() => sleep(100));
      });
    });
    await vi.advanceTimersByTimeAsync(300);
    await done;

    expect(reports[0]!.transactions).toEqual({ c: 0.1, b: 0.2, a: 0.3 });
  });

  it("reports an exception to the callback and rethrows the same error", async () => {
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "xablau", callback });
    const boom = new Error("error");

    await expect(
      timeit.run(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);

    expect(callback).toHaveBeenCalledTimes(1);
    expect(reports[0]!.error).toBe(boom);
    expect(reports[0]!.transactions.xablau).toBeGreaterThanOrEqual(0);
  });

  it("reports an error that escapes from a child, with both transactions recorded", async () => {
    const { reports, callback } = recorder();
    const boom = new TypeError("inner");

    await expect(
      new Timeit({ name: "a", callback }).run((a) =>
        a.child("b").run(() => {
          throw boom;
        }),
      ),
    ).rejects.toBe(boom);

    expect(reports[0]!.error).toBe(boom);
    expect(Object.keys(reports[0]!.transactions)).toEqual(["b", "a"]);
  });

  it("does not report a child error the body caught", async () => {
    const { reports, callback } = recorder();
    await new Timeit({ name: "a", callback }).run(async (a) => {
      await a
        .child("b")
        .run(() => {
          throw new Error("handled");
        })
        .catch(() => undefined);
    });
    expect(reports[0]).not.toHaveProperty("error");
    expect(Object.keys(reports[0]!.transactions)).toEqual(["b", "a"]);
  });
});

describe("duplicate transaction names", () => {
  it("throws a coded error to the caller and reports it to the callback", async () => {
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "a", callback });

    const outcome = timeit.run(async (a) => {
      await a.child("b").run(() => undefined);
      await a.child("b").run(() => undefined);
    });

    await expect(outcome).rejects.toBeInstanceOf(DuplicateTransactionError);
    await expect(outcome).rejects.toMatchObject({ code: "WEIR_ERR_DUPLICATE_TRANSACTION", transaction: "b" });
    expect(callback).toHaveBeenCalledTimes(1);
    expect(reports[0]!.error).toBeInstanceOf(DuplicateTransactionError);
  });

  it("rejects a child named like the outermost transaction", async () => {
    const { callback } = recorder();
    await expect(
      new Timeit({ name: "a", callback }).run((a) => a.child("a").run(() => 1)),
    ).rejects.toMatchObject({ code: "WEIR_ERR_DUPLICATE_TRANSACTION" });
  });

  it("still reports a duplicate the body swallowed", async () => {
    const { reports, callback } = recorder();
    await new Timeit({ name: "a", callback }).run((a) => {
      expect(() => a.child("a").start()).toThrow(DuplicateTransactionError);
    });
    expect(reports[0]!.error).toBeInstanceOf(DuplicateTransactionError);
  });
});

describe("Timeit.wrap", () => {
  it("makes each call a fresh measurement, so the second call works", async () => {
    const { reports, callback } = recorder();
    const handler = new Timeit({ name: "access-time", callback }).wrap(async (x: number) => x * 2);

    expect(await handler(1)).toBe(2);
    expect(await handler(2)).toBe(4);

    expect(callback).toHaveBeenCalledTimes(2);
    for (const report of reports) {
      expect(Object.keys(report.transactions)).toEqual(["access-time"]);
      expect(report).not.toHaveProperty("error");
    }
  });

  it("keeps concurrent calls apart", async () => {
    const { reports, callback } = recorder();
    const handler = new Timeit({ name: "h", callback }).wrap(async (ms: number) => {
      await sleep(ms);
      return ms;
    });

    const results = await Promise.all([120, 10, 60].map((ms) => handler(ms)));

    expect(results).toEqual([120, 10, 60]);
    expect(callback).toHaveBeenCalledTimes(3);
    // Reports arrive in completion order, each with its own duration: no shared record.
    const seconds = reports.map((r) => r.transactions.h!);
    expect(reports.every((r) => Object.keys(r.transactions).length === 1)).toBe(true);
    expect(seconds[0]).toBeGreaterThanOrEqual(0.005);
    expect(seconds[0]).toBeLessThan(0.055);
    expect(seconds[1]).toBeGreaterThanOrEqual(0.055);
    expect(seconds[2]).toBeGreaterThanOrEqual(0.115);
  });

  it("reports and rethrows a wrapped function's error, and passes `this` through", async () => {
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "m", callback });
    const boom = new Error("nope");
    const service = {
      factor: 3,
      times: timeit.wrap(function (this: { factor: number }, x: number) {
        if (x < 0) throw boom;
        return this.factor * x;
      }),
    };

    expect(await service.times(2)).toBe(6);
    await expect(service.times(-1)).rejects.toBe(boom);
    expect(reports.map((r) => r.error)).toEqual([undefined, boom]);
  });
});

describe("Timeit.start (await using)", () => {
  it("ends the measurement when an `await using` block exits", async () => {
    const { reports, callback } = recorder();
    const timeit = new Timeit({ name: "a", callback });

    {
      await using a = timeit.start();
      await sleep(10);
      {
        await using b = a.child("b").start();
        await sleep(10);
        expect(b.name).toBe("b");
      }
      expect(callback).not.toHaveBeenCalled();
    }

    expect(callback).toHaveBeenCalledTimes(1);
    expect(reports[0]!.transactions.a).toBeGreaterThanOrEqual(reports[0]!.transactions.b!);
  });

  it("ends through [Symbol.asyncDispose]() called directly, once", async () => {
    const { reports, callback } = recorder();
    const a = new Timeit({ name: "a", callback }).start();
    const b = a.child("b").start();
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
    await a.end();

    expect(callback).toHaveBeenCalledTimes(1);
    expect(Object.keys(reports[0]!.transactions)).toEqual(["b", "a"]);
  });

  it("reports an error passed to fail(), which `await using` cannot see", async () => {
    const { reports, callback } = recorder();
    const boom = new Error("boom");
    await expect(
      (async () => {
        await using t = new Timeit({ name: "a", callback }).start();
        try {
          throw boom;
        } catch (error) {
          await t.fail(error);
          throw error;
        }
      })(),
    ).rejects.toBe(boom);
    expect(callback).toHaveBeenCalledTimes(1);
    expect(reports[0]!.error).toBe(boom);
  });

  it("refuses a child started after the measurement ended, and ignores a child ended late", async () => {
    const { reports, callback } = recorder();
    const a = new Timeit({ name: "a", callback }).start();
    const late = a.child("late").start();
    await a.end();
    await late.end();

    expect(reports[0]!.transactions).not.toHaveProperty("late");
    expect(() => a.child("b").start()).toThrow(MeasurementClosedError);
    expect(() => a.child("c").start()).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_MEASUREMENT_CLOSED" }),
    );
  });
});

describe("callback failures", () => {
  it("reject with TimeitCallbackError when the measured code succeeded", async () => {
    const cause = new Error("metrics down");
    const timeit = new Timeit({
      name: "a",
      callback: () => {
        throw cause;
      },
    });
    const outcome = timeit.run(() => 1);
    await expect(outcome).rejects.toBeInstanceOf(TimeitCallbackError);
    await expect(outcome).rejects.toMatchObject({ code: "WEIR_ERR_TIMEIT_CALLBACK", cause });
  });

  it("never mask the measured code's error: the callback's is logged", async () => {
    const { logger, error } = fakeLogger();
    const boom = new Error("handler");
    const callbackError = new Error("metrics down");
    const timeit = new Timeit({
      name: "a",
      logger,
      callback: async () => {
        throw callbackError;
      },
    });

    await expect(
      timeit.run(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]![0]).toMatchObject({ err: callbackError });
  });
});

describe("options", () => {
  it("validates the name and the callback at construction", () => {
    const callback = async () => undefined;
    expect(() => new Timeit({ name: "", callback })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "name" }),
    );
    expect(() => new Timeit({ name: "a", callback: "x" as unknown as () => void })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_HANDLER_NOT_FUNCTION" }),
    );
    expect(() => new Timeit({ name: "a", callback }).start().child("")).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
  });
});
