import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import * as amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AMQP_URL, uniqueName, waitFor } from "../helpers/amqp.js";

/**
 * weir as a user gets it (issue #13: the tarball shipped README.md and package.json only, so
 * `import "weir"` failed in every project that installed it, and no test noticed). This packs weir
 * the way `npm publish` does (`prepack` builds), installs the tarball into a fresh project outside
 * the repository, and there type-checks a typed worker (node16 and bundler resolution), runs it
 * against RabbitMQ until it has handled a message, stops it with SIGTERM, runs `npx weir`, and
 * requires weir from CommonJS.
 */

const run = promisify(execFile);
const repo = join(import.meta.dirname, "../..");
const installed = (name: string): string =>
  (JSON.parse(readFileSync(join(repo, "node_modules", name, "package.json"), "utf8")) as { version: string })
    .version;
const weirVersion = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string })
  .version;

/** `node`, `npm` and `npx` run on the Node that runs this test (Node 24 in CI's second pass). */
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
};

const queue = uniqueName("consumer");
const root = mkdtempSync(join(tmpdir(), "weir-consumer-"));
const project = join(root, "project");
let packedFiles: string[] = [];

function sh(command: string, args: readonly string[], timeout = 120_000) {
  return run(command, args, { cwd: project, env: { ...env, ORDERS_QUEUE: queue }, timeout });
}

const WORKER = `import { fileURLToPath } from "node:url";
import { type AMQPMessage, App, RouteTypes } from "weir";

export interface Order {
  id: number;
  item: string;
}

export const queue = process.env.ORDERS_QUEUE ?? "orders";

/** A factory, so that each test can build an app of its own (weir/testing). */
export function createApp(): App {
  const app = new App({ name: "consumer-worker" });
  app.route([queue], { type: RouteTypes.AMQP, declare: true }, async (messages: AMQPMessage<Order>[]) => {
    for (const message of messages) {
      // @ts-expect-error the body is typed from the handler: an id is a number, not a string
      const wrong: string = message.body.id;
      console.log(\`handled order \${message.body.id}: \${message.body.item.toUpperCase()}\`, wrong === "");
    }
  });
  return app;
}

export const app = createApp();

if (process.argv[1] === fileURLToPath(import.meta.url)) await app.run();
`;

/**
 * The transports' subpaths (issue #16): each exports its transport's public API, the very objects the
 * root exports (one copy of each class, so `instanceof` holds whichever path it came from), and
 * importing them loads none of the transports' libraries.
 */
const SUBPATHS = `import { createRequire } from "node:module";
import * as root from "weir";
import { type AMQPMessage, type AMQPRouteSpec, amqpTransport, SchemaValidationError } from "weir/amqp";
import { type HTTPHandler, type HTTPRouteSpec, httpTransport, jwtAuth } from "weir/http";
import { type RedisRouteSpec, RedisStreamError, redisTransport } from "weir/redis";
import { type SSEEvent, type SSERouteSpec, SSEStreamError, sseTransport } from "weir/sse";
import { createTestClient } from "weir/testing";

// Which CommonJS libraries are loaded so far: weir, its subpaths and weir/testing, nothing used yet.
const cache = Object.keys(createRequire(import.meta.url).cache);
const loaded = ["amqplib", "fastify", "ioredis", "prom-client", "@opentelemetry/api"].filter((name) =>
  cache.some((path) => path.includes("/node_modules/" + name + "/")),
);

const amqpSpec = { type: root.RouteTypes.AMQP, options: { bulkSize: 1 } } satisfies AMQPRouteSpec;
const httpSpec: HTTPRouteSpec = { type: root.RouteTypes.HTTP, methods: ["GET"] };
const sseSpec: SSERouteSpec = { type: root.RouteTypes.SSE, url: "http://127.0.0.1:9" };
const redisSpec: RedisRouteSpec = { type: root.RouteTypes.REDIS, group: "subpaths" };
const hello: HTTPHandler = async () => "hello";
const onEvents = async (events: SSEEvent<{ n: number }>[]) => events.length;
// @ts-expect-error an AMQP route spec has no HTTP methods
const wrong: AMQPRouteSpec = { type: root.RouteTypes.AMQP, methods: ["GET"] };

const same = {
  amqpTransport: amqpTransport === root.amqpTransport,
  SchemaValidationError: SchemaValidationError === root.SchemaValidationError,
  httpTransport: httpTransport === root.httpTransport,
  jwtAuth: jwtAuth === root.jwtAuth,
  sseTransport: sseTransport === root.sseTransport,
  SSEStreamError: SSEStreamError === root.SSEStreamError,
  redisTransport: redisTransport === root.redisTransport,
  RedisStreamError: RedisStreamError === root.RedisStreamError,
};

const app = new root.App({ name: "subpaths" });
app.route(["subpaths.orders"], amqpSpec, async (messages: AMQPMessage<{ id: number }>[]) => {
  for (const message of messages) console.log("subpath handled", message.body.id);
});
// client.amqp and the requeue option are the AMQP driver's additions to weir/testing's types.
const client = createTestClient(app, { requeue: "hold" });
const [result] = await client.amqp.deliver("subpaths.orders", [{ id: 9 }]);
await client.close();
console.log(
  JSON.stringify({
    same,
    loaded,
    outcome: result?.outcome,
    types: [amqpTransport.type, httpTransport.type, sseTransport.type, redisTransport.type],
    unused: [httpSpec.type, sseSpec.type, redisSpec.type, typeof hello, typeof onEvents, wrong.type],
  }),
);
`;

const REQUIRE = `const { App, RouteTypes } = require("weir");
const { createTestClient } = require("weir/testing");
const plugins = [require("weir/amqp").amqpTransport, require("weir/http").httpTransport, require("weir/sse").sseTransport];
console.log("subpath plugins", plugins.map((plugin) => plugin.type).join(","));

const app = new App({ name: "cjs" });
app.route(["cjs.orders"], { type: RouteTypes.AMQP }, async (messages) => {
  for (const message of messages) console.log("cjs handled", message.body.id);
});
const client = createTestClient(app);
client.amqp
  .deliver("cjs.orders", [{ id: 7 }])
  .then(([result]) => console.log("outcome", result.outcome))
  .finally(() => client.close());
`;

// node16 also checks every declaration file (weir's and its dependencies'), as a strict user's
// project would; bundler skips them, once is enough and it costs ~10 s.
const compilerOptions = { strict: true, target: "ES2022", types: ["node"] };
const TSCONFIGS = {
  "tsconfig.json": {
    compilerOptions: {
      ...compilerOptions,
      module: "node16",
      moduleResolution: "node16",
      skipLibCheck: false,
      outDir: "dist",
      rootDir: "src",
    },
    include: ["src"],
  },
  "tsconfig.bundler.json": {
    compilerOptions: {
      ...compilerOptions,
      module: "preserve",
      moduleResolution: "bundler",
      skipLibCheck: true,
      noEmit: true,
    },
    include: ["src"],
  },
};

beforeAll(async () => {
  mkdirSync(join(project, "src"), { recursive: true });
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", root], {
    cwd: repo,
    env,
    timeout: 120_000,
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  packedFiles = packed!.files.map((file) => file.path);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
  );
  for (const [name, config] of Object.entries(TSCONFIGS))
    writeFileSync(join(project, name), JSON.stringify(config, null, 2));
  writeFileSync(join(project, "src/worker.ts"), WORKER);
  writeFileSync(join(project, "src/subpaths.ts"), SUBPATHS);
  writeFileSync(join(project, "require.cjs"), REQUIRE);
  await sh("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    join(root, packed!.filename),
    `typescript@${installed("typescript")}`,
    `@types/node@${installed("@types/node")}`,
  ]);
}, 240_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("weir installed from its tarball into a fresh project (issue #13)", () => {
  it("the tarball holds dist/ (JS, types, maps), README.md, LICENSE and package.json only", () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/cli/main.js"]),
    );
    expect(packedFiles).toEqual(expect.arrayContaining(["README.md", "LICENSE", "package.json"]));
    const others = packedFiles.filter(
      (path) =>
        !/^dist\/.+\.(js|d\.ts|js\.map)$/.test(path) &&
        !["README.md", "LICENSE", "package.json"].includes(path),
    );
    expect(others).toEqual([]);
  });

  it("a typed worker type-checks with module resolution node16 and with bundler", async () => {
    await sh("npx", ["--no", "--", "tsc", "-p", "tsconfig.json"]);
    await sh("npx", ["--no", "--", "tsc", "-p", "tsconfig.bundler.json"]);
    expect(readFileSync(join(project, "dist/worker.js"), "utf8")).toContain('from "weir"');
  }, 120_000);

  it("the worker handles a message from RabbitMQ, logs through the installed pino-pretty, and exits 0 on SIGTERM", async () => {
    const broker = await amqp.connect(AMQP_URL);
    const channel = await broker.createConfirmChannel();
    channel.on("error", () => {});
    let worker: ChildProcess | undefined;
    try {
      worker = spawn(process.execPath, ["dist/worker.js"], {
        cwd: project,
        // Pretty logs run pino-pretty in a worker thread, resolved from weir's own install.
        env: { ...env, ORDERS_QUEUE: queue, WEIR_AMQP_URL: AMQP_URL, WEIR_LOG_FORMAT: "pretty" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      worker.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      worker.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => worker!.once("exit", (code) => resolve(code)));

      // The worker declares the queue (`declare: true`); publish once it consumes. A passive check of a
      // queue that does not exist yet closes its channel, hence one channel per look.
      const consumers = async (): Promise<number> => {
        const look = await broker.createChannel();
        look.on("error", () => {});
        const ok = await look.checkQueue(queue).catch(() => undefined);
        await look.close().catch(() => {});
        return ok?.consumerCount ?? 0;
      };
      await waitFor(
        async () => (await consumers()) > 0 || worker!.exitCode !== null,
        20_000,
        "a consumer",
      ).catch((error: Error) => {
        throw new Error(`${error.message}; the worker printed:\n${output}`);
      });
      expect(worker.exitCode, output).toBeNull();
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id: 42, item: "widget" })), {
        contentType: "application/json",
      });
      await channel.waitForConfirms();
      await waitFor(
        () => output.includes("handled order 42: WIDGET"),
        10_000,
        `the worker's line\n${output}`,
      );

      worker.kill("SIGTERM");
      expect(await exited, output).toBe(0);
      expect(output).toMatch(/INFO.*app started/);
      expect(output).not.toContain('"msg":');
      // Acked, not requeued by the stop: nothing is left on the queue.
      expect((await channel.checkQueue(queue)).messageCount).toBe(0);
    } finally {
      if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
      await channel.deleteQueue(queue).catch(() => {});
      await broker.close().catch(() => {});
    }
  }, 60_000);

  it("`npx weir --version` prints the installed version; `npx weir routes` lists the worker's route", async () => {
    const version = await sh("npx", ["--no", "--", "weir", "--version"]);
    expect(version.stdout).toBe(`${weirVersion}\n`);
    const routes = await sh("npx", ["--no", "--", "weir", "routes", "dist/worker.js"]);
    expect(routes.stdout).toMatch(new RegExp(`amqp\\s+${queue.replaceAll(".", "\\.")}\\s+.*declare`));
  }, 60_000);

  it("weir/amqp, weir/http and weir/sse type-check (above) and export the root's very objects, loading no transport library", async () => {
    const { stdout } = await sh("node", ["dist/subpaths.js"]);
    expect(stdout).toContain("subpath handled 9");
    // weir's own log lines (JSON too) may come before or after the report.
    const line = stdout.split("\n").find((text) => text.startsWith('{"same":'));
    const report = JSON.parse(line ?? "{}") as {
      same: Record<string, boolean>;
      loaded: string[];
      outcome: string;
      types: string[];
    };
    expect(report.same).toEqual({
      amqpTransport: true,
      SchemaValidationError: true,
      httpTransport: true,
      jwtAuth: true,
      sseTransport: true,
      SSEStreamError: true,
      redisTransport: true,
      RedisStreamError: true,
    });
    expect(report.loaded).toEqual([]);
    expect(report.outcome).toBe("ack");
    expect(report.types).toEqual(["amqp", "http", "sse", "redis"]);
  }, 30_000);

  it('require("weir"), require("weir/testing") and the subpaths work from CommonJS', async () => {
    const { stdout } = await sh("node", ["require.cjs"]);
    expect(stdout).toContain("subpath plugins amqp,http,sse");
    expect(stdout).toContain("cjs handled 7");
    expect(stdout).toContain("outcome ack");
  }, 30_000);
});
