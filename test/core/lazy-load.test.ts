import { execFile } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { HEAVY_LIBRARIES } from "../../bench/lib/heavy-libraries.js";
import { App } from "../../src/index.js";

/**
 * `import "weir"` loads only core and what the app uses (issue #16): a pure AMQP worker must not pay
 * for fastify, eventsource-parser, ioredis, jose, prom-client or OpenTelemetry, and not even for amqplib
 * before it connects. Checked in a fresh process, where nothing else has loaded them: the child
 * imports src/index.ts through tsx, builds an App with an AMQP route, lists the packages it loaded
 * (bench/lib/loaded-packages.mjs), then uses the features that need them and lists again, which
 * proves the listing sees both CommonJS (fastify, prom-client) and ESM-only (jose) packages.
 */

const ROOT = join(import.meta.dirname, "../..");
const run = promisify(execFile);

const CHILD = `
const { watchLoadedPackages } = await import(process.env.PROBE);
const loaded = watchLoadedPackages();
const weir = await import(process.env.ENTRY);
const { App, RouteTypes, jwtAuth } = weir;

const app = new App({ name: "lazy-worker" });
app.route(["lazy.orders"], { type: RouteTypes.AMQP, declare: true }, async () => {});
// Reaching the clients and building an authorizer is not using their libraries yet.
// A Redis Streams route and its client: ioredis is loaded when the transport connects, not before.
app.route(["lazy.stream"], { type: RouteTypes.REDIS }, async () => {});
const clients = [typeof app.amqp.publish, typeof app.http, typeof app.redis.publish];
// A NATS JetStream route and its client: @nats-io/* load when the app starts, not here.
const natsApp = new App({ name: "lazy-nats" });
natsApp.route(["LAZY_ORDERS"], { type: RouteTypes.NATS }, async () => {});
void natsApp.nats.publish;
// An SQS route and its client load no AWS SDK before start (issue #20).
const sqsApp = new App({ name: "lazy-sqs", sqs: { region: "us-east-1" } });
sqsApp.route(["lazy-orders"], { type: RouteTypes.SQS }, async () => {});
void sqsApp.sqs.publish;
// An SSE route: eventsource-parser is loaded when its first stream connects, not before.
const { createServer } = await import("node:http");
const sseServer = createServer((request, response) => {
  response.writeHead(200, { "content-type": "text/event-stream" });
  response.write("id: 1\\ndata: hello\\n\\n");
});
await new Promise((resolve) => sseServer.listen(0, "127.0.0.1", resolve));
const sseApp = new App({ name: "lazy-sse", sse: { url: "http://127.0.0.1:" + sseServer.address().port } });
let sseData;
sseApp.route(["/events"], { type: RouteTypes.SSE }, async (events) => { sseData ??= events[0].data; });
const auth = jwtAuth({ secret: "a secret of at least thirty-two bytes!", algorithms: ["HS256"] });
const worker = loaded();

await sseApp.start();
for (let i = 0; i < 200 && sseData === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 25));
await sseApp.stop();
sseServer.closeAllConnections();
sseServer.close();
const streamed = loaded();

void app.http.server;
const observed = new App({ name: "observed", observability: true });
const refused = await auth.authorize({ headers: { authorization: "Bearer not.a.token" } });
const used = loaded();

console.log(JSON.stringify({ worker, streamed, sseData, used, clients, refused: refused === undefined, metrics: observed.metrics !== undefined }));
`;

interface ChildReport {
  /** Packages loaded once the pure AMQP worker is built. */
  readonly worker: string[];
  /** ... and after an SSE route's stream connected and delivered an event. */
  readonly streamed: string[];
  readonly sseData: string | undefined;
  /** ... and after touching `app.http.server`, an App with observability, and a JWT check. */
  readonly used: string[];
  readonly clients: string[];
  readonly refused: boolean;
  readonly metrics: boolean;
}

let report: ChildReport;

beforeAll(async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD], {
    cwd: ROOT,
    env: {
      ...process.env,
      PROBE: pathToFileURL(join(ROOT, "bench/lib/loaded-packages.mjs")).href,
      ENTRY: pathToFileURL(join(ROOT, "src/index.ts")).href,
    },
    timeout: 60_000,
  });
  // weir's own log lines, JSON too, may surround the report.
  report = JSON.parse(
    stdout.split("\n").find((line) => line.startsWith('{"worker":')) ?? "{}",
  ) as ChildReport;
}, 90_000);

describe('import "weir" in a pure AMQP worker (issue #16)', () => {
  it.each(HEAVY_LIBRARIES)("does not load %s", (library) => {
    expect(report.worker).not.toContain(library);
  });

  it("loads eventsource-parser once an SSE stream connects, and never the eventsource client", () => {
    expect(report.sseData).toBe("hello");
    expect(report.streamed).toContain("eventsource-parser");
    expect(report.streamed).not.toContain("eventsource");
  });

  it("loads core's own dependencies (the listing is not empty)", () => {
    expect(report.worker).toEqual(expect.arrayContaining(["pino", "whatwg-mimetype"]));
    expect(report.clients).toEqual(["function", "object", "function"]);
  });

  it("loads fastify, prom-client, @opentelemetry/api and jose once the app uses them", () => {
    expect(report.used).toEqual(
      expect.arrayContaining(["fastify", "prom-client", "@opentelemetry/api", "jose"]),
    );
    expect(report.refused).toBe(true);
    expect(report.metrics).toBe(true);
  });
});

describe("what stays where it was", () => {
  it("a bad fastify option still throws in new App, not at the first HTTP route", () => {
    expect(() => new App({ http: { fastify: { bodyLimit: "x" as unknown as number } } })).toThrow(
      /bodyLimit/,
    );
  });

  it("app.http.server is there at once, synchronously, with weir's request decorator", () => {
    const app = new App();
    expect(app.http.server.hasRequestDecorator("auth")).toBe(true);
  });
});
