import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { captureLogs, createApp, routeHealth, SSETestServer, waitFor } from "./sse-test-server.js";

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const fast = { floor: 10, ceiling: 40 };

describe("SSE authentication and headers", () => {
  let server: SSETestServer;
  let app: App | undefined;
  beforeEach(async () => {
    server = await SSETestServer.start();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await server.close();
  });

  it("sends user/password as Basic auth and the headers on the first connection and every reconnection", async () => {
    server.numbered("/events", { total: 6, dropAfter: [2, 4] });
    app = createApp({
      sse: {
        url: server.url,
        user: "worker",
        password: "s3cr3t:é",
        headers: { "X-Tenant": "acme" },
        reconnect: fast,
      },
    });
    let handled = 0;
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      handled += events.length;
    });
    await app.start();
    await waitFor(() => handled === 6, 3000, "6 events");
    const requests = server.requestsTo("/events");
    expect(requests).toHaveLength(3);
    for (const request of requests) {
      expect(request.headers.authorization).toBe(basic("worker", "s3cr3t:é"));
      expect(request.headers["x-tenant"]).toBe("acme");
      expect(request.headers.accept).toBe("text/event-stream");
    }
  });

  it("calls a (async) header function before every connection, so a token can be refreshed", async () => {
    server.numbered("/events", { total: 6, dropAfter: [2, 4] });
    let issued = 0;
    app = createApp({ sse: { url: server.url, reconnect: fast } });
    let handled = 0;
    app.route(
      ["/events"],
      {
        type: RouteTypes.SSE,
        headers: async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          issued++;
          return { Authorization: `Bearer token-${issued}` };
        },
      },
      async (events) => {
        handled += events.length;
      },
    );
    await app.start();
    await waitFor(() => handled === 6, 3000, "6 events");
    expect(server.requestsTo("/events").map((request) => request.headers.authorization)).toEqual([
      "Bearer token-1",
      "Bearer token-2",
      "Bearer token-3",
    ]);
  });

  it("retries when the header function throws, and logs a coded error", async () => {
    server.numbered("/events", { total: 1 });
    let calls = 0;
    const logs = captureLogs("warn");
    app = createApp({
      logger: logs.logger,
      sse: {
        url: server.url,
        reconnect: fast,
        headers: () => {
          calls++;
          if (calls === 1) throw new Error("token service unavailable");
          return { "X-Token": "fresh" };
        },
      },
    });
    const seen: unknown[] = [];
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      seen.push(...events.map((event) => event.body));
    });
    await app.start();
    await waitFor(() => seen.length === 1, 3000, "the event");
    expect(calls).toBe(2);
    expect(server.requestsTo("/events").map((request) => request.headers["x-token"])).toEqual(["fresh"]);
    expect(
      logs.lines.find((line) => (line.err as { code?: string })?.code === "WEIR_ERR_SSE_HEADERS"),
    ).toMatchObject({
      level: 50,
      route: "/events",
    });
  });

  it("takes credentials from the URL, sends them as a header and never logs or reports the password", async () => {
    let refuse = true;
    server.gate(
      "/events",
      () => (refuse ? 401 : undefined),
      (response) => {
        response.writeHead(200, { "content-type": "text/event-stream" });
        response.write("data: in\n\n");
      },
    );
    const logs = captureLogs("debug");
    const url = new URL(server.url);
    url.username = "bot";
    url.password = "hunter2-pass";
    app = createApp({ logger: logs.logger, sse: { url: url.href, reconnect: fast } });
    let handled = 0;
    app.route(["/events"], { type: RouteTypes.SSE }, async (events) => {
      handled += events.length;
    });
    const started = app.start();
    await waitFor(() => server.requestsTo("/events").length >= 3, 3000, "refused attempts");
    const health = JSON.stringify(app.health());
    refuse = false;
    await started;
    await waitFor(() => handled === 1, 3000, "the event");
    expect(server.requestsTo("/events")[0]?.headers.authorization).toBe(basic("bot", "hunter2-pass"));
    expect(logs.lines.length).toBeGreaterThan(3);
    expect(logs.text()).not.toContain("hunter2-pass");
    expect(health).not.toContain("hunter2-pass");
    expect(JSON.stringify(app.health())).not.toContain("hunter2-pass");
  });

  it("lets an explicit Authorization header win over user/password", async () => {
    server.numbered("/events", { total: 1 });
    app = createApp({ sse: { url: server.url, user: "u", password: "p" } });
    let handled = 0;
    app.route(
      ["/events"],
      { type: RouteTypes.SSE, headers: { authorization: "Bearer explicit" } },
      async () => {
        handled++;
      },
    );
    await app.start();
    await waitFor(() => handled === 1, 3000, "the event");
    expect(server.requestsTo("/events")[0]?.headers.authorization).toBe("Bearer explicit");
  });

  it("merges route headers over the app's, and sends the app's credentials only to the app's url", async () => {
    server.numbered("/inherits", { total: 1 });
    server.numbered("/own", { total: 1 });
    app = createApp({
      sse: {
        url: server.url,
        user: "app-user",
        password: "app-pass",
        headers: { "X-App": "1", "X-Shared": "app" },
      },
    });
    let handled = 0;
    const handler = async (): Promise<void> => {
      handled++;
    };
    app.route(["/inherits"], { type: RouteTypes.SSE, headers: { "X-Shared": "route" } }, handler);
    app.route(["/own"], { type: RouteTypes.SSE, url: server.url, headers: { "X-Route": "2" } }, handler);
    await app.start();
    await waitFor(() => handled === 2, 3000, "2 events");
    const inherits = server.requestsTo("/inherits")[0]?.headers;
    expect(inherits).toMatchObject({
      "x-app": "1",
      "x-shared": "route",
      authorization: basic("app-user", "app-pass"),
    });
    const own = server.requestsTo("/own")[0]?.headers;
    expect(own).toMatchObject({ "x-route": "2" });
    expect(own?.authorization).toBeUndefined();
    expect(own?.["x-app"]).toBeUndefined();
    expect(routeHealth(app, 1)).toMatchObject({ ready: true });
  });
});
