import { describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { App, RouteTypes, toAsyncAPI } from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import { runCli } from "../cli/helpers.js";
import { silentLogger } from "../helpers/amqp.js";
import { type MemoTransport, memoTestDriver, memoTransport } from "./fixtures/memo-transport.js";

/**
 * Issue #16: a transport is a plugin. These tests register one that weir does not know (built from
 * public exports only, test/core/fixtures/memo-transport.ts) and check that every part of weir
 * (routes, lifecycle, health, `weir routes`, AsyncAPI, metrics, the test client) reaches it
 * through the seam, with no edit outside its file.
 */

function memoApp(options: { observability?: boolean } = {}): App {
  return new App({
    logger: silentLogger,
    shutdownTimeout: 1_000,
    transports: [memoTransport],
    memo: { prefix: "m/" },
    ...options,
  });
}

function memoOf(app: App): MemoTransport {
  return app[appTransports].get("memo") as MemoTransport;
}

describe("transport plugins (issue #16)", () => {
  it("a plugin's routes are typed, registered, started, stopped, and its client is app.<type>", async () => {
    const app = memoApp();
    const seen: string[] = [];
    app.route<{ name: string }>(["greetings"], { type: "memo", label: "hi" }, async (payload) => {
      seen.push(payload.name); // typed from the type argument through RouteKinds
      return `hello ${payload.name}`;
    });
    const transport = memoOf(app);
    await app.start();
    expect(await app.memo.push("greetings", { name: "ada" })).toBe("hello ada");
    expect(seen).toEqual(["ada"]);
    expect(app.health()).toMatchObject({
      ready: true,
      transports: [{ transport: "memo", ready: true, routes: [{ name: "greetings", ready: true }] }],
    });
    await app.stop();
    expect(transport.calls).toEqual(["start", "stop"]);
  });

  it("reads its options under its type, and refuses an unknown key with the plugin's type suggested", () => {
    expect(() => new App({ logger: silentLogger, transports: [memoTransport], memoo: {} } as never)).toThrow(
      expect.objectContaining({
        code: "WEIR_ERR_INVALID_OPTION",
        message: expect.stringContaining('did you mean "memo"'),
      }),
    );
  });

  it("names the plugin's type when a route's type is unknown", () => {
    const app = memoApp();
    expect(() => app.route(["x"], { type: "memoo" } as never, async () => {})).toThrow(
      expect.objectContaining({
        code: "WEIR_ERR_UNKNOWN_ROUTE_TYPE",
        // The built-in types first (more as transports are added), the plugin's last.
        message: expect.stringMatching(/amqp, http, sse(, [a-z]+)*, memo/),
      }),
    );
  });

  it("refuses two plugins of one type, one named like a built-in or an App option, and a malformed one", () => {
    const refused = (transports: unknown, code: string) =>
      expect(() => new App({ logger: silentLogger, transports } as never)).toThrow(
        expect.objectContaining({ code }),
      );
    refused([memoTransport, memoTransport], "WEIR_ERR_DUPLICATE_TRANSPORT");
    refused([{ ...memoTransport, type: RouteTypes.AMQP }], "WEIR_ERR_DUPLICATE_TRANSPORT");
    refused([{ ...memoTransport, type: "observability" }], "WEIR_ERR_DUPLICATE_TRANSPORT");
    refused([{ type: "Memo!", create: memoTransport.create }], "WEIR_ERR_TRANSPORT_TYPE");
    refused([{ type: "memo" }], "WEIR_ERR_TRANSPORT_TYPE");
    refused(memoTransport, "WEIR_ERR_TRANSPORT_TYPE");
    refused([{ type: "other", create: memoTransport.create }], "WEIR_ERR_TRANSPORT_TYPE");
  });

  it("appears in the AsyncAPI document as a note when it describes nothing there", () => {
    const app = memoApp();
    app.route(["greetings"], { type: "memo" }, async () => {});
    const document = toAsyncAPI(app);
    expect(document.info.description).toContain('Routes of type "memo" are not described here');
    expect(Object.keys(document.channels)).toEqual([]);
  });

  it("gets zero series in /metrics as a consuming transport, and its settlements counted", async () => {
    const app = memoApp({ observability: true });
    app.route(["greetings"], { type: "memo" }, async () => {});
    const client = createTestClient(app, { drivers: [memoTestDriver] });
    try {
      await client
        .transport<{ push(key: string, payload: unknown): Promise<unknown> }>("memo")
        .push("greetings", {});
      const metrics = await app.metrics!.metrics();
      expect(metrics).toMatch(
        /weir_messages_settled_total\{transport="memo",route="greetings",outcome="ack"\} 1/,
      );
      expect(metrics).toMatch(
        /weir_messages_settled_total\{transport="memo",route="greetings",outcome="reject"\} 0/,
      );
      const ready = await client.http.inject("/ready");
      expect(ready.statusCode).toBe(200);
    } finally {
      await client.close();
    }
  });

  it("the test client drives it through the driver given, and names a type that has none", async () => {
    const app = memoApp();
    app.route(["greetings"], { type: "memo" }, async (payload: unknown) => payload);
    const without = createTestClient(app);
    expect(() => without.transport("memo")).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_TEST_NO_DRIVER" }),
    );
    await without.close();
    const other = memoApp();
    other.route(["greetings"], { type: "memo" }, async (payload: unknown) => payload);
    const client = createTestClient(other, { drivers: [memoTestDriver] });
    try {
      const memo = client.transport<{ push(key: string, payload: unknown): Promise<unknown> }>("memo");
      expect(await memo.push("greetings", 42)).toBe(42);
      expect(other.status).toBe("running");
    } finally {
      await client.close();
    }
  });

  it("weir routes shows its routes as its transport describes them, in registration order", async () => {
    const result = await runCli(["routes", "test/core/fixtures/memo-app.ts", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { type: "memo", routes: ["m/greetings"], details: { label: "hello" } },
    ]);
  });
});
