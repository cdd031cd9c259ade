import * as net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { App, RouteTypes, WeirError } from "../../src/index.js";
import { Broker, createApp, silentLogger, uniqueName, waitFor } from "../helpers/amqp.js";

const noop = async () => {};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WeirError);
    return (error as WeirError).code;
  }
  return undefined;
}

describe("misuse fails at registration with a coded error", () => {
  const app = new App({ logger: silentLogger });
  const amqp = { type: RouteTypes.AMQP } as const;
  const cases: [string, () => unknown, string][] = [
    [
      "handler not a function",
      () => app.route(["q"], amqp, "nope" as never),
      "WEIR_ERR_HANDLER_NOT_FUNCTION",
    ],
    ["empty routes", () => app.route([], amqp, noop), "WEIR_ERR_EMPTY_ROUTES"],
    ["routes not an array", () => app.route("q" as never, amqp, noop), "WEIR_ERR_EMPTY_ROUTES"],
    ["empty route name", () => app.route([""], amqp, noop), "WEIR_ERR_EMPTY_ROUTES"],
    ["unknown type", () => app.route(["q"], { type: "kafka" } as never, noop), "WEIR_ERR_UNKNOWN_ROUTE_TYPE"],
    [
      "bulkSize 0",
      () => app.route(["q"], { ...amqp, options: { bulkSize: 0 } }, noop),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "bulkSize 1.5",
      () => app.route(["q"], { ...amqp, options: { bulkSize: 1.5 } }, noop),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "flush interval 0",
      () => app.route(["q"], { ...amqp, options: { bulkFlushInterval: 0 } }, noop),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "concurrency 0",
      () => app.route(["q"], { ...amqp, options: { concurrency: 0 } }, noop),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "unknown action",
      () => app.route(["q"], { ...amqp, options: { onSuccess: "maybe" as never } }, noop),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "misspelled option",
      () => app.route(["q"], { ...amqp, options: { bulksize: 2 } as never }, noop),
      "WEIR_ERR_INVALID_OPTION",
    ],
    ["prefetch -1", () => app.route(["q"], { ...amqp, prefetch: -1 }, noop), "WEIR_ERR_INVALID_OPTION"],
    ["startup hook not a function", () => app.onStartup(42 as never), "WEIR_ERR_HANDLER_NOT_FUNCTION"],
    [
      "bad AMQP URL",
      () => new App({ logger: silentLogger, amqp: { url: "http://user:secret@x" } }),
      "WEIR_ERR_INVALID_OPTION",
    ],
    [
      "negative shutdownTimeout",
      () => new App({ logger: silentLogger, shutdownTimeout: -1 }),
      "WEIR_ERR_INVALID_OPTION",
    ],
  ];
  it.each(cases)("%s", (_name, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });

  it("never puts a password into an error message", () => {
    try {
      new App({ logger: silentLogger, amqp: { url: "http://user:s3cr3t@host" } });
    } catch (error) {
      expect((error as Error).message).not.toContain("s3cr3t");
    }
  });

  it("route() returns the handler; hooks return the hook", () => {
    const a = new App({ logger: silentLogger });
    const handler = async () => {};
    expect(a.route(["q"], { type: RouteTypes.AMQP }, handler)).toBe(handler);
    const hook = async () => {};
    expect(a.onStartup(hook)).toBe(hook);
    expect(a.onShutdown(hook)).toBe(hook);
  });
});

describe("lifecycle", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("runs startup hooks in order before consuming, shutdown hooks in reverse after settling", async () => {
    const queue = await broker.queue(uniqueName("hooks"));
    await broker.publish(queue, [1]);
    const events: string[] = [];
    const app = createApp();
    app.onStartup(async (a) => {
      events.push("startup 1");
      a.state.db = "connected";
    });
    app.onStartup(() => {
      events.push("startup 2");
    });
    app.onShutdown(async () => {
      events.push(`shutdown 1 (left on broker: ${await broker.count(queue)})`);
    });
    app.onShutdown(() => {
      events.push("shutdown 2");
    });
    app.route([queue], { type: RouteTypes.AMQP }, async () => {
      events.push(`handler (state.db=${String(app.state.db)})`);
    });
    await app.start();
    await waitFor(() => events.length === 3);
    await app.stop();
    expect(events).toEqual([
      "startup 1",
      "startup 2",
      "handler (state.db=connected)",
      "shutdown 2",
      "shutdown 1 (left on broker: 0)",
    ]);
  });

  it("registering a route after start is a coded error; start after stop too", async () => {
    const queue = await broker.queue(uniqueName("late"));
    const app = createApp();
    app.route([queue], { type: RouteTypes.AMQP }, noop);
    await app.start();
    expect(codeOf(() => app.route([queue], { type: RouteTypes.AMQP }, noop))).toBe("WEIR_ERR_APP_STARTED");
    await app.stop();
    await expect(app.start()).rejects.toMatchObject({ code: "WEIR_ERR_APP_STOPPED" });
  });

  it("a startup hook that throws fails start() and the app stops", async () => {
    const app = createApp();
    app.onStartup(() => {
      throw new Error("db down");
    });
    await expect(app.start()).rejects.toThrow("db down");
    expect(app.status).toBe("stopped");
  });

  it("a pure AMQP app opens no listening port", async () => {
    const queue = await broker.queue(uniqueName("no-port"));
    const app = createApp();
    app.route([queue], { type: RouteTypes.AMQP }, noop);
    await app.start();
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    expect(handles.filter((handle) => handle instanceof net.Server)).toEqual([]);
    await app.stop();
  });

  it("health() reports each route attached and consuming", async () => {
    const queue = await broker.queue(uniqueName("health"));
    const app = createApp();
    app.route([queue], { type: RouteTypes.AMQP }, noop);
    expect(app.health().ready).toBe(false);
    await app.start();
    const health = app.health();
    expect(health.ready).toBe(true);
    expect(health.transports[0]?.routes[0]).toMatchObject({
      name: queue,
      ready: true,
      connected: true,
      consuming: [queue],
    });
    await app.stop();
    expect(app.health().ready).toBe(false);
  });
});
