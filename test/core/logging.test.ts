import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createDefaultLogger, logFormat } from "../../src/core/logger.js";
import { App, RouteTypes } from "../../src/index.js";
import { AMQP_URL, Broker, uniqueName, waitFor } from "../helpers/amqp.js";
import { captureLogs, hasStack, INFO, type LogLine, linesMatching, WARN } from "../helpers/logs.js";
import { jsonLines, runFixture } from "../helpers/run-fixture.js";
import { SSETestServer } from "../sse/sse-test-server.js";

const NAMED_APP = "test/core/fixtures/named-app.ts";

describe("logs a person can read (issue 13)", () => {
  const apps: App[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });

  function track(app: App): App {
    apps.push(app);
    return app;
  }

  describe("the app's name is on every line", () => {
    it('default logger, JSON: `name` is the App\'s name, not "weir"', async () => {
      const result = await runFixture(NAMED_APP, { WEIR_LOG_FORMAT: "json" });
      expect(result.code, result.stderr).toBe(0);
      const lines = jsonLines(result.stdout);
      expect(lines.map((line) => line.msg)).toEqual(["app started", "stopping", "stopped"]);
      for (const line of lines) expect(line.name).toBe("demo-worker");
    });

    it("a user's logger keeps its own bindings and gains the app's name", async () => {
      const logs = captureLogs();
      const app = track(new App({ name: "demo-worker", logger: logs.logger.child({ team: "payments" }) }));
      await app.start();
      app.logger.info("from a handler");
      await app.stop();
      expect(logs.lines.length).toBe(4);
      for (const line of logs.lines) expect(line).toMatchObject({ name: "demo-worker", team: "payments" });
    });

    it("a user's logger that names itself keeps its name; the app's goes under `app`", async () => {
      const logs = captureLogs();
      const app = track(new App({ name: "demo-worker", logger: logs.logger.child({ name: "billing" }) }));
      await app.start();
      await app.stop();
      expect(logs.lines.length).toBe(3);
      for (const line of logs.lines) expect(line).toMatchObject({ name: "billing", app: "demo-worker" });
    });
  });

  describe("format: pretty at a terminal, JSON otherwise, WEIR_LOG_FORMAT overrides", () => {
    it("chooses by stdout's TTY-ness unless WEIR_LOG_FORMAT says otherwise", () => {
      expect(logFormat({ env: {}, isTTY: true })).toBe("pretty");
      expect(logFormat({ env: {}, isTTY: false })).toBe("json");
      expect(logFormat({ env: { WEIR_LOG_FORMAT: "json" }, isTTY: true })).toBe("json");
      expect(logFormat({ env: { WEIR_LOG_FORMAT: "Pretty" }, isTTY: false })).toBe("pretty");
    });

    it("WEIR_LOG_FORMAT=pretty prints one readable line per event, with the app's name", async () => {
      const result = await runFixture(NAMED_APP, { WEIR_LOG_FORMAT: "pretty" });
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(demo-worker\): app started/);
      expect(lines[2]).toMatch(/INFO \(demo-worker\): stopped$/);
    });

    it("an unknown WEIR_LOG_FORMAT (or WEIR_LOG_LEVEL) is refused with WEIR_ERR_INVALID_OPTION", async () => {
      const result = await runFixture(NAMED_APP, { WEIR_LOG_FORMAT: "jsno" });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /^WEIR_ERR_INVALID_OPTION: invalid option "WEIR_LOG_FORMAT": must be "pretty" or "json", got "jsno"/,
      );
      expect(() => createDefaultLogger("x", { env: { WEIR_LOG_LEVEL: "verbose" } })).toThrow(
        expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "WEIR_LOG_LEVEL" }),
      );
    });
  });

  describe("one line per event", () => {
    it('HTTP: "listening" is logged once, at info', async () => {
      const logs = captureLogs();
      const app = track(new App({ name: "api", logger: logs.logger, http: { port: 0 } }));
      app.route(["/hello"], { type: RouteTypes.HTTP, methods: ["GET"] }, async () => "hi");
      await app.start();
      const listening = linesMatching(logs.lines, /listening/i);
      expect(listening).toHaveLength(1);
      expect(listening[0]).toMatchObject({ level: INFO, url: app.http.url, routes: 1, name: "api" });
    });

    describe("AMQP refusals (invalid JSON, schema) are one line per message, at warn, without a stack", () => {
      let broker: Broker;
      afterEach(async () => {
        await broker?.close();
      });

      const Order = z.object({ id: z.number() });

      for (const deadLetter of [true, false]) {
        it(`${deadLetter ? "dead-lettered" : "rejected (no dead-letter queue)"}`, async () => {
          broker = await Broker.connect();
          const queue = await broker.queue(uniqueName(`refusal-log-${deadLetter}`));
          const logs = captureLogs();
          const app = track(new App({ logger: logs.logger, amqp: { url: AMQP_URL } }));
          const handled: unknown[] = [];
          app.route([queue], { type: RouteTypes.AMQP, schema: Order, deadLetter }, async (messages) => {
            handled.push(...messages.map((m) => m.body));
          });
          await app.start();
          if (deadLetter) broker.track(`${queue}.dlq`);
          await broker.publish(queue, [Buffer.from("{broken"), { id: "not a number" }, { id: 1 }], {
            contentType: "application/json",
          });
          await waitFor(() => handled.length === 1, 5000, "the valid message");
          const refusals = (): LogLine[] =>
            logs.lines.filter((line) => line.level >= WARN && line.queue === queue);
          await waitFor(() => refusals().length >= 2, 5000, "two refusal lines");
          await app.stop();
          const lines = refusals();
          expect(lines.map((line) => line.reason).sort()).toEqual(["invalid-json", "schema"]);
          for (const line of lines) {
            expect(line.level).toBe(WARN);
            expect(hasStack(line)).toBe(false);
          }
          const schema = lines.find((line) => line.reason === "schema")!;
          expect(schema.issues).toEqual([expect.objectContaining({ path: "id" })]);
          if (deadLetter) expect(await broker.count(`${queue}.dlq`)).toBe(2);
        });
      }
    });

    it("SSE: a stream the server ends is one info line without a stack; the reconnect one more", async () => {
      const server = await SSETestServer.start();
      try {
        server.manual("/events");
        const logs = captureLogs();
        const app = track(
          new App({ logger: logs.logger, sse: { url: server.url, reconnect: { floor: 10, ceiling: 20 } } }),
        );
        app.route(["/events"], { type: RouteTypes.SSE }, async () => {});
        await app.start();
        server.dropAll("/events");
        await waitFor(() => linesMatching(logs.lines, /connected/).length === 2, 5000, "the reconnect");
        const drop = logs.lines.filter((line) => line.level >= INFO && !/connected|started/.test(line.msg));
        expect(drop).toHaveLength(1);
        expect(drop[0]).toMatchObject({ level: INFO, code: "WEIR_ERR_SSE_DISCONNECTED" });
        expect(hasStack(drop[0]!)).toBe(false);
      } finally {
        await Promise.all(apps.splice(0).map((app) => app.stop()));
        await server.close();
      }
    });
  });
});
