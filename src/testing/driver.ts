import type { RouteRecord, Transport } from "../core/transport.js";

/**
 * How the test client drives one transport without its server or broker. Each transport that can be
 * tested brings one (the built-in ones are registered by `weir/testing`); a transport plugin passes
 * its own in `createTestClient(app, { drivers })`. The client's member for it is `client.<type>`.
 */

/** Options of the test client's waits. */
export interface WaitOptions {
  /**
   * Real milliseconds (fake timers do not move it) before the call rejects with
   * `WEIR_ERR_TEST_TIMEOUT`.
   * @defaultValue 10000
   */
  timeout?: number;
}

/** What a driver gets from the test client. */
export interface TestDriverContext {
  /** The app under test (not started yet): its routes, in registration order. */
  readonly app: { readonly routes: readonly RouteRecord[] };
  /**
   * Starts the app (once; every driver method that needs it running calls this first). Rejects with
   * `WEIR_ERR_TEST_CLIENT_CLOSED` after `close()`.
   */
  start(): Promise<void>;
  /** `createTestClient`'s options: each driver reads the keys it declared in `optionKeys`. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** One transport's side of a test client. */
export interface TestDriver {
  /** `client.<type>`: what tests call to deliver work and read what happened. */
  readonly api: object;
  /** Before the app starts (after every driver is created): create queues, claim streams. */
  beforeStart?(): void;
  /** After the app has stopped, even when the stop failed: release what the driver holds. */
  afterClose?(): void | Promise<void>;
}

/** Builds a transport's driver. */
export interface TestDriverFactory<T extends Transport = Transport> {
  /** The route type of the transport it drives. */
  readonly type: string;
  /** The `createTestClient` option keys it reads (checked for unknown keys by the client). */
  readonly optionKeys: readonly string[];
  /**
   * Called once per test client, before the app starts: replace the transport's connections with
   * in-memory ones here. Throws `TestClientError` for a bad option.
   */
  create(transport: T, context: TestDriverContext): TestDriver;
}
