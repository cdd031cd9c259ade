import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, pino } from "pino";
import { App, type AppOptions } from "../../src/index.js";

/**
 * A real Server-Sent Events server for the SSE tests, on 127.0.0.1 and an ephemeral port. Each path
 * is set up by the test: a numbered stream that honours Last-Event-ID, a stream the test writes to
 * by hand, or a fixed status. It records every request (path and headers) and can drop connections.
 */

export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly at: number;
}

export interface NumberedOptions {
  /** Events 1..total: `id: n`, `data: {"n":n}`. */
  total: number;
  /**
   * Ids after which the server drops the connection, once each. The next event is written half
   * (no blank line) before the drop, so a client that delivers unfinished events would be caught.
   */
  dropAfter?: readonly number[];
  /** Drop by destroying the socket (a network failure) instead of ending the response cleanly. */
  abrupt?: boolean;
  /** A `retry:` field sent first on every connection. */
  retry?: number;
}

type Handler = (response: ServerResponse, request: RecordedRequest) => void;

const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  connection: "keep-alive",
};

export const silentLogger = pino({ level: process.env.WEIR_TEST_LOG ?? "silent" });

export function createApp(options: AppOptions = {}): App {
  return new App({ logger: silentLogger, shutdownTimeout: 5000, ...options });
}

/** Polls `predicate` every 5 ms; fails with `what` after `timeout` ms. */
export async function waitFor(predicate: () => boolean, timeout = 5000, what = "condition"): Promise<void> {
  const until = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One `text/event-stream` frame. */
export function frame(event: {
  id?: string | number;
  event?: string;
  data?: string;
  retry?: number;
}): string {
  let text = "";
  if (event.event !== undefined) text += `event: ${event.event}\n`;
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  if (event.retry !== undefined) text += `retry: ${event.retry}\n`;
  if (event.data !== undefined) for (const line of event.data.split("\n")) text += `data: ${line}\n`;
  return `${text}\n`;
}

export class SSETestServer {
  readonly requests: RecordedRequest[] = [];
  private readonly handlers = new Map<string, Handler>();
  private readonly open = new Map<string, Set<ServerResponse>>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<SSETestServer> {
    let self: SSETestServer | undefined;
    const server = createServer((req, res) => self?.dispatch(req.url ?? "/", req.headers, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    self = new SSETestServer(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** Requests received on `path`, in order. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  /** Responses on `path` still open. */
  clients(path: string): number {
    return this.open.get(path)?.size ?? 0;
  }

  /** Numbered events 1..total; a reconnect with `Last-Event-ID: k` resumes at k + 1. */
  numbered(path: string, options: NumberedOptions): void {
    const drops = new Set(options.dropAfter ?? []);
    this.handle(path, (response, request) => {
      response.writeHead(200, SSE_HEADERS);
      if (options.retry !== undefined) response.write(`retry: ${options.retry}\n\n`);
      const lastId = Number(request.headers["last-event-id"] ?? 0);
      let text = "";
      for (let n = lastId + 1; n <= options.total; n++) {
        text += frame({ id: n, data: JSON.stringify({ n }) });
        if (drops.delete(n)) {
          if (n < options.total) text += `id: ${n + 1}\ndata: {"n":`; // half an event, then the drop
          this.drop(response, text, options.abrupt ?? false);
          return;
        }
      }
      response.write(text);
    });
  }

  /** A stream the test writes to with `send`/`write`; `retry` and comments included. */
  manual(path: string): void {
    this.handle(path, (response) => {
      response.writeHead(200, SSE_HEADERS);
      response.write(": connected\n\n");
    });
  }

  /** Answers `status` while `statusOf()` returns one, else serves as `then` would. */
  gate(path: string, statusOf: () => number | undefined, then: Handler): void {
    this.handle(path, (response, request) => {
      const status = statusOf();
      if (status === undefined) {
        then(response, request);
        return;
      }
      response.writeHead(status, { "content-type": "text/plain" });
      response.end(`status ${status}`);
    });
  }

  handle(path: string, handler: Handler): void {
    this.handlers.set(path, handler);
  }

  /** Writes raw text to every open response on `path`. */
  write(path: string, text: string): void {
    for (const response of this.open.get(path) ?? []) response.write(text);
  }

  send(path: string, event: Parameters<typeof frame>[0]): void {
    this.write(path, frame(event));
  }

  /** Ends (or destroys) every open response on `path`. */
  dropAll(path: string, abrupt = false): void {
    for (const response of [...(this.open.get(path) ?? [])]) this.drop(response, "", abrupt);
  }

  async close(): Promise<void> {
    for (const responses of this.open.values()) for (const response of responses) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private drop(response: ServerResponse, text: string, abrupt: boolean): void {
    if (!abrupt) {
      response.end(text);
      return;
    }
    // Destroy only once the text reached the socket: a destroy discards unflushed writes.
    response.write(text.length > 0 ? text : ": bye\n", () => response.socket?.destroy());
  }

  private dispatch(path: string, headers: IncomingHttpHeaders, response: ServerResponse): void {
    const request: RecordedRequest = { path, headers, at: Date.now() };
    this.requests.push(request);
    const handler = this.handlers.get(path);
    if (handler === undefined) {
      response.writeHead(404).end();
      return;
    }
    let open = this.open.get(path);
    if (open === undefined) {
      open = new Set();
      this.open.set(path, open);
    }
    const responses = open;
    responses.add(response);
    response.on("close", () => responses.delete(response));
    handler(response, request);
  }
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A pino logger whose lines the test can read (level numbers: 40 warn, 50 error). */
export function captureLogs(level = "debug"): {
  logger: Logger;
  lines: LogLine[];
  text: () => string;
} {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const logger = pino(
    { level },
    {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines, text: () => raw.join("") };
}

/** The health of the app's only SSE route. */
export function routeHealth(
  app: App,
  index = 0,
): Record<string, unknown> & { streams: Record<string, unknown>[] } {
  const sse = app.health().transports.find((transport) => transport.transport === "sse");
  const route = sse?.routes[index];
  if (route === undefined) throw new Error("no SSE route in the app's health");
  return route as unknown as Record<string, unknown> & { streams: Record<string, unknown>[] };
}
