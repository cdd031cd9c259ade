/**
 * One side of the HTTP pair (bench/lib/http-pair.ts): the same handler served by a weir HTTP route
 * (`weir`) or by bare fastify, the version weir uses (`raw`). Runs in its own process, pinned to a
 * core by the orchestrator, and talks to it on stdio:
 *
 * - prints `ready <port>` once listening on 127.0.0.1 (a free port);
 * - answers each `cpu` line on stdin with its `process.cpuUsage()` (µs, user and system, every
 *   thread) as a JSON line, so the orchestrator reads the server's CPU around each load run;
 * - closes and exits when stdin ends.
 *
 * Usage: http-server <raw|weir>
 */

import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { createInterface } from "node:readline";
import { type FastifyBaseLogger, type FastifyServerOptions, fastify } from "fastify";
import { pino } from "pino";
import { App, RouteTypes } from "../../src/index.js";

/** The handler both sides serve: a small JSON object, as a side-API's endpoint returns. */
const handler = async (): Promise<{ hello: string }> => ({ hello: "world" });

const HTTP_PATH = "/hello";

async function serveRaw(): Promise<{ port: number; close: () => Promise<void> }> {
  // fastify's defaults: no logger, as a hand-written service that does not log requests runs.
  // WEIR_BENCH_HTTP_RAW=logger,timeouts gives bare fastify what weir's server had before issue
  // #19's HTTP work, one part at a time, to tell which costs what: a silent pino logger handed to
  // fastify (weir now does that only with `logRequests`), and the guards against slow clients of
  // then (Node's head and request timeouts checked every second, and an inactivity timeout on
  // every socket, which weir has replaced with a sweep every second: silent-clients.ts).
  const parts = (process.env.WEIR_BENCH_HTTP_RAW ?? "").split(",");
  const server = fastify({
    ...(parts.includes("logger") && {
      loggerInstance: pino({ level: "silent" }) as FastifyBaseLogger,
      disableRequestLogging: true,
    }),
    ...(parts.includes("timeouts") && {
      http: { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 },
    }),
  } as FastifyServerOptions);
  if (parts.includes("timeouts")) {
    server.server.setTimeout(10_000);
    server.server.on("timeout", (socket: Socket) => {
      const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (response === undefined || response === null || !response.req.complete) socket.destroy();
    });
  }
  server.get(HTTP_PATH, handler);
  await server.listen({ host: "127.0.0.1", port: 0 });
  const address = server.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { port, close: () => server.close() };
}

async function serveWeir(): Promise<{ port: number; close: () => Promise<void> }> {
  const app = new App({
    name: "weir-bench-http",
    logger: pino({ level: "silent" }),
    http: { host: "127.0.0.1", port: 0 },
  });
  app.route([HTTP_PATH], { type: RouteTypes.HTTP, methods: ["GET"] }, handler);
  await app.start();
  return { port: app.http.address?.port ?? 0, close: () => app.stop() };
}

const side = process.argv[2];
if (side !== "raw" && side !== "weir") throw new Error("usage: http-server <raw|weir>");
const server = side === "raw" ? await serveRaw() : await serveWeir();
process.stdout.write(`ready ${server.port}\n`);
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "cpu") process.stdout.write(`${JSON.stringify(process.cpuUsage())}\n`);
});
lines.once("close", () => {
  void server.close().finally(() => process.exit(0));
});
