import type { App } from "../app.js";
import { appTransports } from "../core/application.js";
import { knownKeys } from "../core/validate.js";
import { appTaskLayer, type TaskLayer } from "../tasks/layer.js";
import { MemoryTaskStore } from "../tasks/memory-store.js";
import type { TestDriver, TestDriverFactory } from "./driver.js";
import { TestClientError } from "./errors.js";

/**
 * Options of `createTestClient(app, options)`. The built-in drivers add their own (`queues` and
 * `requeue` for AMQP) by declaration merging.
 */
export interface TestClientOptions {
  /**
   * Drivers for transport plugins, beside the built-in ones (by route type; one given here replaces
   * the built-in one of its type).
   * @defaultValue none
   */
  drivers?: readonly TestDriverFactory[];
}

/**
 * What a test client offers per transport, by route type (`amqp`, `sse`, `http`); each driver adds
 * its member by declaration merging.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by each transport's driver by declaration merging.
export interface TestClientTransports {}

/** The test client of one app: see `createTestClient`. */
export interface TestClient<S extends object = Record<string, unknown>> extends TestClientTransports {
  readonly app: App<S>;
  /**
   * The driver API of a transport plugin's routes, by route type (`client.transport("files")`).
   * Throws `WEIR_ERR_TEST_NO_DRIVER` for a type without a driver.
   */
  transport<API extends object = object>(type: string): API;
  /**
   * Starts the app on in-memory transports (startup hooks included). Every other method calls it,
   * so calling it yourself is only needed to test the start itself. Same promise when called twice.
   */
  start(): Promise<void>;
  /** Stops the app (drain, shutdown hooks) and releases the in-memory transports. Same promise when called twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const builtInDrivers: TestDriverFactory[] = [];

/** @internal Registers a built-in transport's driver (weir/testing's entry point does, once). */
export function registerBuiltInDriver(factory: TestDriverFactory): void {
  builtInDrivers.push(factory);
}

/**
 * A test client for `app`: the app runs for real (routes, bulks, acks, retries, hooks) against an
 * in-memory broker, an in-memory SSE source and fastify's `inject`; nothing touches the network.
 *
 * ```ts
 * const client = createTestClient(app);
 * const [result] = await client.amqp.deliver("orders", [{ id: 1, amount: -5 }]);
 * expect(result.outcome).toBe("reject");
 * await client.close();
 * ```
 *
 * Call it before the app starts: it replaces the app's connections. weir's timers are the standard
 * ones, so `vi.useFakeTimers()` drives bulk flushes, retries and TTLs (docs/testing.md). Throws
 * `WEIR_ERR_TEST_APP_STARTED` for an app that has started, `WEIR_ERR_INVALID_OPTION` for an unknown
 * option.
 */
export function createTestClient<S extends object>(
  app: App<S>,
  options: TestClientOptions = {},
): TestClient<S> {
  if (app.status !== "created") {
    throw new TestClientError(
      "WEIR_ERR_TEST_APP_STARTED",
      "createTestClient needs an app that has not started",
    );
  }
  const factories = new Map<string, TestDriverFactory>();
  for (const factory of [...builtInDrivers, ...(options.drivers ?? [])]) factories.set(factory.type, factory);
  knownKeys("createTestClient", options, [
    "drivers",
    ...[...factories.values()].flatMap((factory) => factory.optionKeys),
  ]);

  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const drivers = new Map<string, TestDriver>();

  const start = (): Promise<void> => {
    if (closing !== undefined) {
      return Promise.reject(new TestClientError("WEIR_ERR_TEST_CLIENT_CLOSED", "the test client is closed"));
    }
    starting ??= (async () => {
      for (const driver of drivers.values()) driver.beforeStart?.();
      await app.start();
    })();
    return starting;
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        if (starting !== undefined) await starting.catch(() => {});
        await app.stop();
      } finally {
        for (const driver of drivers.values()) await driver.afterClose?.();
      }
    })();
    return closing;
  };

  // Tasks keep their status and results in memory: a test needs no Redis to read them.
  (app as { [appTaskLayer]?: TaskLayer })[appTaskLayer]?.useStore(new MemoryTaskStore());

  const context = { app, start, options: options as Readonly<Record<string, unknown>> };
  for (const transport of app[appTransports].values()) {
    const factory = factories.get(transport.type);
    if (factory !== undefined) drivers.set(transport.type, factory.create(transport, context));
  }

  const client = {
    app,
    transport<API extends object>(type: string): API {
      const driver = drivers.get(type);
      if (driver === undefined) {
        throw new TestClientError(
          "WEIR_ERR_TEST_NO_DRIVER",
          `no test driver for routes of type "${type}": pass one in createTestClient(app, { drivers })`,
        );
      }
      return driver.api as API;
    },
    start,
    close,
    [Symbol.asyncDispose]: close,
  };
  for (const [type, driver] of drivers)
    Object.defineProperty(client, type, { value: driver.api, enumerable: true });
  return client as TestClient<S>;
}
