import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runCli } from "./helpers.js";

/** The numbered examples, in order. */
const EXAMPLES = readdirSync("examples")
  .filter((file) => /^\d\d-[a-z-]+\.ts$/.test(file))
  .sort();

/** What `weir routes --json` must list for each example (one entry per route, its names). */
const ROUTES: Record<string, string[][]> = {
  "01-amqp-consumer.ts": [["weir.demo.orders"]],
  "02-http.ts": [["/", "/hello"], ["/orders"], ["/orders/:id"], ["/admin/orders"], ["/me"]],
  "03-sse.ts": [["/v2/events"]],
  "04-action-queue.ts": [["weir.demo.signups"]],
  "05-run-every.ts": [],
  "06-retries.ts": [["weir.demo.payments"]],
  "07-observability.ts": [["weir.demo.observed"]],
  "08-testing.ts": [["orders"], ["/stats"]],
  "09-tasks.ts": [["weir.example.thumbnails"]],
  "10-custom-transport.ts": [["orders"]],
  "11-topology.ts": [
    ["weir.demo.orders.all"],
    ["weir.demo.orders.ship"],
    ["weir.demo.audit.eu"],
    ["cache.invalidate"],
  ],
  "12-publishers.ts": [["weir.demo.billing"], ["weir.demo.invoices"]],
  "13-request-reply.ts": [["weir.demo.prices"], ["weir.demo.prices.strict"]],
  "14-streams.ts": [["weir.demo.ledger"]],
  "15-redis-streams.ts": [["weir.demo.shipments"]],
  "16-nats-jetstream.ts": [["WEIR_DEMO_ORDERS"]],
  "17-sqs.ts": [["orders"]],
  "18-task-handles.ts": [
    ["weir.example.pages.fetch"],
    ["weir.example.pages.index"],
    ["weir.example.reports"],
    ["weir.example.heartbeat"],
  ],
};

/** The task schedules `weir routes --json` must list after the publishers, by name. */
const SCHEDULES: Record<string, string[]> = {
  "18-task-handles.ts": ["weir.example.heartbeat"],
};

/** The typed publishers `weir routes --json` must list after the routes, by name. */
const PUBLISHERS: Record<string, string[]> = {
  "12-publishers.ts": ["orderCreated", "invoices"],
};

// Issue 13, point 8: examples started their app when imported, so the CLI could not read them, and
// the numbering had a gap (no 02).
describe("examples", () => {
  it("are numbered 01..N without a gap, each listed here", () => {
    const numbers = EXAMPLES.map((file) => Number(file.slice(0, 2)));
    // 15, 16, 17 (Redis Streams, NATS JetStream, SQS; issue #20) land from parallel branches: until
    // all three are in, a missing one of them is not a gap.
    const reserved = new Set([15, 16, 17]);
    expect(numbers).toEqual(
      Array.from({ length: Math.max(...numbers) }, (_, i) => i + 1).filter(
        (n) => numbers.includes(n) || !reserved.has(n),
      ),
    );
    expect(EXAMPLES).toEqual(Object.keys(ROUTES));
  });

  it("are referred to by names that exist (README, docs, package.json, tests)", () => {
    const sources = [
      "README.md",
      "package.json",
      ...readdirSync("docs").map((file) => `docs/${file}`),
      ...readdirSync("examples").map((file) => `examples/${file}`),
      ...readdirSync("test", { recursive: true, encoding: "utf8" })
        .filter((file) => file.endsWith(".ts"))
        .map((file) => `test/${file}`),
    ].filter((file) => file.endsWith(".md") || file.endsWith(".ts") || file.endsWith(".json"));
    const missing: string[] = [];
    for (const source of sources) {
      for (const [path] of readFileSync(source, "utf8").matchAll(/examples\/[\w-]+\.ts/g)) {
        // This file quotes the issue, which names an example by its old number.
        if (source === "test/cli/inspect.test.ts") continue;
        if (!existsSync(path)) missing.push(`${source}: ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  // Two CLI processes per example (tsx compiles each module): concurrent, with room for a busy CPU.
  describe.concurrent("weir routes / asyncapi read every example without starting it", () => {
    it.each(EXAMPLES)("%s", { timeout: 200_000 }, async (file) => {
      const routes = await runCli(["routes", `examples/${file}`, "--json"], {}, 90_000);
      expect(routes.code, routes.stderr).toBe(0);
      // The examples guard their start (isMainModule): inspect-only mode had nothing to refuse.
      expect(routes.stderr).toBe("");
      const rows = JSON.parse(routes.stdout) as Array<{
        routes?: string[];
        publisher?: string;
        schedule?: string;
      }>;
      expect(rows.filter((row) => row.routes !== undefined).map((row) => row.routes)).toEqual(ROUTES[file]);
      expect(rows.flatMap((row) => row.publisher ?? [])).toEqual(PUBLISHERS[file] ?? []);
      expect(rows.flatMap((row) => row.schedule ?? [])).toEqual(SCHEDULES[file] ?? []);

      const asyncapi = await runCli(["asyncapi", `examples/${file}`], {}, 90_000);
      expect(asyncapi.code, asyncapi.stderr).toBe(0);
      expect(asyncapi.stderr).toBe("");
      expect(JSON.parse(asyncapi.stdout)).toMatchObject({ asyncapi: "3.0.0" });
    });
  });
});
