import { describe, expect, it } from "vitest";
import {
  ConfigurationError,
  InvalidOptionError,
  RouteTypes,
  SSEDuplicateStreamError,
  SSEMissingURLError,
  type SSERouteSpec,
} from "../../src/index.js";
import { createApp } from "./sse-test-server.js";

const handler = async (): Promise<void> => {};

/** Registers one SSE route with `spec` merged in and returns what it threw. */
function registrationError(
  spec: Record<string, unknown>,
  appOptions = { url: "http://127.0.0.1:1" },
): unknown {
  const app = createApp({ sse: appOptions });
  try {
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, ...spec } as SSERouteSpec & { schema?: undefined },
      handler,
    );
  } catch (error) {
    expect(app.routes).toHaveLength(0);
    return error;
  }
  throw new Error("route() did not throw");
}

describe("SSE route registration", () => {
  it("rejects a route with no url anywhere", () => {
    const app = createApp();
    let error: unknown;
    try {
      app.route(["/events"], { type: RouteTypes.SSE }, handler);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SSEMissingURLError);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: "WEIR_ERR_SSE_NO_URL" });
    expect(app.routes).toHaveLength(0);
  });

  it("accepts a url from the route alone, or from the app alone", () => {
    const app = createApp();
    expect(app.route(["/a"], { type: RouteTypes.SSE, url: "https://example.org" }, handler)).toBe(handler);
    const withDefault = createApp({ sse: { url: "http://127.0.0.1:1" } });
    expect(withDefault.route(["/a"], { type: RouteTypes.SSE }, handler)).toBe(handler);
  });

  it("rejects the same stream twice in one route", () => {
    const app = createApp({ sse: { url: "http://127.0.0.1:1/" } });
    expect(() => app.route(["/events", "events"], { type: RouteTypes.SSE }, handler)).toThrow(
      SSEDuplicateStreamError,
    );
    expect(() => app.route(["/x", "/x"], { type: RouteTypes.SSE }, handler)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_SSE_DUPLICATE_STREAM" }),
    );
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ["a bulk size below 1", { options: { bulkSize: 0 } }, "bulkSize"],
    ["a fractional bulk size", { options: { bulkSize: 1.5 } }, "bulkSize"],
    ["a negative flush interval", { options: { bulkFlushInterval: -1 } }, "bulkFlushInterval"],
    ["a concurrency of 0", { options: { concurrency: 0 } }, "concurrency"],
    ["an unknown onException action", { options: { onException: "requeue" } }, "onException"],
    ["a misspelt option", { options: { bulksize: 10 } }, "options.bulksize"],
    ["an AMQP-only key", { vhost: "/" }, "route.vhost"],
    ["a url that is not http(s)", { url: "ftp://example.org" }, "url"],
    ["a url that does not parse", { url: "not a url" }, "url"],
    ["headers that are neither object nor function", { headers: 42 }, "headers"],
    ["a header value that is not a string", { headers: { "X-Count": 1 } }, "headers.X-Count"],
    ["a header value with a line break", { headers: { "X-Evil": "a\r\nInjected: 1" } }, "headers.X-Evil"],
    ["an invalid header name", { headers: { "Bad Name": "x" } }, "headers.Bad Name"],
    ["a password without a user", { password: "p" }, "password"],
    ["a retry of 0 attempts", { options: { retry: { maxAttempts: 0 } } }, "options.retry.maxAttempts"],
    [
      "a retry backoff that is not a Backoff",
      { options: { retry: { backoff: "soon" } } },
      "options.retry.backoff",
    ],
    ["a negative retry backoff", { options: { retry: { backoff: -5 } } }, "options.retry.backoff"],
    ["a reconnect floor above its ceiling", { reconnect: { floor: 500, ceiling: 100 } }, "reconnect.ceiling"],
    ["a negative idle timeout", { idleTimeout: -1 }, "idleTimeout"],
  ];
  for (const [what, spec, option] of invalid) {
    it(`rejects ${what} at registration`, () => {
      const error = registrationError(spec);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option });
    });
  }

  it("rejects a handler that is not a function", () => {
    const app = createApp({ sse: { url: "http://127.0.0.1:1" } });
    expect(() => app.route(["/events"], { type: RouteTypes.SSE }, "handler" as never)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_HANDLER_NOT_FUNCTION" }),
    );
  });

  it("rejects bad app-wide sse options when the App is built", () => {
    expect(() => createApp({ sse: { url: "amqp://127.0.0.1" } })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "sse.url" }),
    );
    expect(() => createApp({ sse: { urll: "http://x" } as never })).toThrow(
      expect.objectContaining({ option: "sse.urll" }),
    );
    expect(() => createApp({ sse: { reconnect: { floor: -1 } } })).toThrow(
      expect.objectContaining({ option: "sse.reconnect.floor" }),
    );
  });

  it("opens nothing for an app without SSE routes", () => {
    const app = createApp({ sse: { url: "http://127.0.0.1:1" } });
    expect(app.health().transports.find((transport) => transport.transport === "sse")).toBeUndefined();
  });
});
