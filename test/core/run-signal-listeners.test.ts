import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../src/index.js";
import { silentLogger } from "../helpers/amqp.js";

/**
 * `app.run()` after a signal-driven stop: SIGINT and SIGTERM must never be left without a listener
 * before the echo window closes. With none, Node restores the default action, and the copy of the
 * signal a parent forwards (npm, on Ctrl-C) kills the stopped process: `npm start` then ended by
 * SIGINT instead of exit 0, once, in a CI run under load (the stop had become fast enough to finish
 * before npm's forward). Run in this process: the signal is emitted, not sent, and each listener
 * change is watched.
 */

afterEach(() => {
  vi.restoreAllMocks();
});

describe("app.run() keeps a listener on SIGINT and SIGTERM through its stop", () => {
  it("after a signal, the counts never reach 0 while run() swaps its listener for the echo's", async () => {
    const app = new App({ logger: silentLogger, shutdownTimeout: 1_000 });
    const before = { SIGINT: process.listenerCount("SIGINT"), SIGTERM: process.listenerCount("SIGTERM") };
    const seen: number[] = [];
    const off = process.off.bind(process);
    vi.spyOn(process, "off").mockImplementation(((event: string, listener: (...args: unknown[]) => void) => {
      const result = off(event, listener);
      // Beyond the listeners the test runner itself may hold: run()'s, or the echo's.
      if (event === "SIGINT" || event === "SIGTERM") seen.push(process.listenerCount(event) - before[event]);
      return result;
    }) as typeof process.off);
    const running = app.run();
    await vi.waitFor(() => expect(process.listenerCount("SIGINT")).toBe(before.SIGINT + 1), {
      timeout: 5_000,
    });
    process.emit("SIGINT");
    await running;
    // Each removal of run()'s own listener left the echo's in place.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual(seen.map(() => 1));
    expect(process.listenerCount("SIGINT")).toBe(before.SIGINT + 1);
    expect(process.listenerCount("SIGTERM")).toBe(before.SIGTERM + 1);
  });
});
