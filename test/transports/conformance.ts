import { expect, it } from "vitest";
import { type App, WeirError } from "../../src/index.js";

/**
 * The contract every transport honours, checked through the public App so that a new transport is
 * held to exactly what users rely on. Each transport's fixture says how to build an app, add a
 * route, and hand its route one unit of work (a message, an event, a request).
 */
export interface TransportFixture {
  /** A fresh app with whatever the transport needs to start (a queue, a server, a port). */
  makeApp(): Promise<App>;
  /** Registers one route whose handler is called with what `deliver` sends. */
  addRoute(app: App, handler: (received: unknown) => void): void;
  /** Registers a route with an option the transport does not know: must throw at registration. */
  addInvalidRoute(app: App): void;
  /** Sends one unit of work carrying `payload` to the route. */
  deliver(app: App, payload: string): Promise<void>;
  /** Extracts the payload back from what the handler received. */
  payloadOf(received: unknown): string;
  /** Releases what makeApp created. */
  cleanup(): Promise<void>;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Registers the shared conformance tests for one transport (call inside a `describe`). */
export function transportConformance(type: string, fixture: () => TransportFixture): void {
  it(`${type}: an app without routes of this type does not start it (no port, no connection)`, async () => {
    const f = fixture();
    const app = await f.makeApp();
    await app.start();
    expect(app.health().transports.map((t) => t.transport)).not.toContain(type);
    await app.stop();
    await f.cleanup();
  });

  it(`${type}: misuse throws a coded WeirError at registration, never later`, async () => {
    const f = fixture();
    const app = await f.makeApp();
    let thrown: unknown;
    try {
      f.addInvalidRoute(app);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WeirError);
    expect((thrown as WeirError).code).toMatch(/^WEIR_ERR_/);
    await app.stop();
    await f.cleanup();
  });

  it(`${type}: start() resolves once the route receives work; health says ready; work reaches the handler`, async () => {
    const f = fixture();
    const app = await f.makeApp();
    const received: string[] = [];
    f.addRoute(app, (item) => received.push(f.payloadOf(item)));
    await app.start();
    const health = app.health();
    expect(health.ready).toBe(true);
    expect(health.transports.find((t) => t.transport === type)?.routes.length).toBe(1);
    await f.deliver(app, "conformance-1");
    await until(() => received.includes("conformance-1"), "the first delivery");
    await app.stop();
    expect(app.health().ready).toBe(false);
    await f.cleanup();
  });

  it(`${type}: stop() hands over work already received, resolves once, and twice returns the same promise`, async () => {
    const f = fixture();
    const app = await f.makeApp();
    const received: string[] = [];
    f.addRoute(app, (item) => received.push(f.payloadOf(item)));
    await app.start();
    await f.deliver(app, "conformance-2");
    await until(() => received.includes("conformance-2"), "the delivery");
    const first = app.stop();
    expect(app.stop()).toBe(first);
    await first;
    expect(app.status).toBe("stopped");
    await f.cleanup();
  });

  it(`${type}: stop() on an app that never started resolves`, async () => {
    const f = fixture();
    const app = await f.makeApp();
    f.addRoute(app, () => {});
    await app.stop();
    expect(app.status).toBe("stopped");
    await f.cleanup();
  });
}
