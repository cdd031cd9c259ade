/**
 * A small Server-Sent Events server for examples/03-sse.ts: a deployment feed in the spirit of the
 * Marathon event bus async-worker's README consumed.
 *
 * - `GET /v2/events` streams `deployment_info`, `status_update_event` and `deployment_success`
 *   events with increasing ids, and a `: keep-alive` comment every 5 s.
 * - It requires `Authorization: Bearer <token>` where the token comes from `issueToken()`; a token
 *   expires after 60 s, so a long-running client must refresh it when it reconnects.
 * - It drops every connection after `dropEvery` events and replays from `Last-Event-ID`, so a
 *   client that reconnects properly sees no gap and no duplicate.
 *
 * Run it alone with `npx tsx examples/demo-sse-server.ts` (port 9000, or `PORT`), or start it from
 * code with `startDemoServer()`.
 */
import { randomUUID } from "node:crypto";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, pino } from "pino";
import { isMainModule } from "../src/index.js";

export interface DemoServerOptions {
  /** @defaultValue 0 (an ephemeral port) */
  port?: number;
  /** Milliseconds between events. @defaultValue 400 */
  interval?: number;
  /** Events per connection before the server drops it. @defaultValue 12 */
  dropEvery?: number;
  logger?: Logger;
}

export interface DemoServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** A token the server accepts for the next 60 s (what an auth service would hand out). */
  issueToken(): string;
  close(): Promise<void>;
}

const TOKEN_TTL = 60_000;
const apps = ["/billing", "/checkout", "/search"];

function eventFor(id: number): { event: string; data: unknown } {
  const app = apps[id % apps.length] ?? "/billing";
  switch (id % 3) {
    case 1:
      return { event: "deployment_info", data: { plan: { id: `plan-${id}` }, app } };
    case 2:
      return {
        event: "status_update_event",
        data: { appId: app, taskId: `${app.slice(1)}.${id}`, taskStatus: "TASK_RUNNING" },
      };
    default:
      return { event: "deployment_success", data: { id: `deployment-${id}`, app } };
  }
}

function frame(id: number): string {
  const { event, data } = eventFor(id);
  return `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const logger =
    options.logger ?? pino({ name: "demo-sse-server", level: process.env.WEIR_LOG_LEVEL ?? "info" });
  const interval = options.interval ?? 400;
  const dropEvery = options.dropEvery ?? 12;
  const tokens = new Map<string, number>();
  const open = new Set<ServerResponse>();
  const startedAt = Date.now();
  // The feed is a clock: event n exists once n intervals have passed, so any id can be replayed.
  const latestId = (): number => Math.floor((Date.now() - startedAt) / interval);

  const server = createServer((request, response) => {
    if (request.url !== "/v2/events") {
      response.writeHead(404).end();
      return;
    }
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
    const expires = token === undefined ? undefined : tokens.get(token);
    if (expires === undefined || expires < Date.now()) {
      logger.warn("refused a client without a valid token");
      response.writeHead(401, { "www-authenticate": "Bearer" }).end();
      return;
    }
    const lastId = Number(request.headers["last-event-id"] ?? latestId());
    logger.info({ lastEventId: request.headers["last-event-id"] ?? null }, "client connected");
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.write("retry: 500\n\n");
    open.add(response);
    let next = Number.isInteger(lastId) && lastId >= 0 ? lastId + 1 : latestId() + 1;
    let sent = 0;
    const tick = setInterval(() => {
      for (; next <= latestId(); next++) {
        response.write(frame(next));
        if (++sent >= dropEvery) {
          logger.info({ afterId: next }, "dropping the connection (the client should resume after it)");
          response.end();
          return;
        }
      }
    }, interval);
    const keepAlive = setInterval(() => response.write(": keep-alive\n\n"), 5000);
    response.on("close", () => {
      clearInterval(tick);
      clearInterval(keepAlive);
      open.delete(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  logger.info({ url: `http://127.0.0.1:${port}/v2/events` }, "demo SSE server listening");

  return {
    url: `http://127.0.0.1:${port}`,
    issueToken() {
      const token = randomUUID();
      tokens.set(token, Date.now() + TOKEN_TTL);
      return token;
    },
    async close() {
      for (const response of open) response.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Started directly: serve until Ctrl-C, printing a token to use with curl.
if (isMainModule(import.meta.url)) {
  const logger = pino({ name: "demo-sse-server" });
  const demo = await startDemoServer({ port: Number(process.env.PORT ?? 9000), logger });
  const token = demo.issueToken();
  logger.info(
    `try: curl -N -H "Authorization: Bearer ${token}" ${demo.url}/v2/events  (the token lasts 60 s)`,
  );
  process.once("SIGINT", () => void demo.close());
}
