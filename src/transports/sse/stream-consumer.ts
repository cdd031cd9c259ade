import type { Deadline } from "../../core/deadline.js";
import { failureFields, type Logger } from "../../core/logger.js";
import { Sleeper } from "../../core/sleeper.js";
import type { Fetcher } from "./connection.js";
import { loadParser, SSEConnection } from "./connection.js";
import { SSEStreamError } from "./errors.js";
import { SSEEvent } from "./event.js";
import type { HeaderSource } from "./headers.js";
import { withServerFloor } from "./options.js";

/** One stream of a route: where it is and how to reach it. */
export interface StreamConfig {
  /** The route path this stream serves. */
  readonly path: string;
  /** The stream's URL, without credentials. */
  readonly url: URL;
  /** The same, for logs. */
  readonly safeUrl: string;
  readonly headers: HeaderSource;
  /** Delay before the next attempt after `failures` failures in a row (server floor not applied). */
  readonly reconnectDelay: (failures: number) => number;
  readonly idleTimeout: number | undefined;
  /** Bytes an event may reach (`maxEventSize`). */
  readonly maxEventSize: number;
}

/** What a stream reports to its route. */
export interface StreamSink {
  onEvent(event: SSEEvent): void;
  /** The connection ended after it was open: whatever the route buffers should go out now. */
  onDisconnect(): void;
  /** `undefined` when the route has room for more events, else a promise resolved once it has. */
  waitForRoom(): Promise<void> | undefined;
}

/** Statuses that need a human (wrong credentials, wrong path): logged as errors, not warnings. */
const NEEDS_ATTENTION = new Set([
  "WEIR_ERR_SSE_AUTH",
  "WEIR_ERR_SSE_NOT_FOUND",
  "WEIR_ERR_SSE_HEADERS",
  // The server sends events larger than the route accepts: raise maxEventSize, or fix the server.
  "WEIR_ERR_SSE_EVENT_TOO_LARGE",
]);

/**
 * Keeps one stream connected: connects, hands every event to the route, and after any failure or
 * drop reconnects with backoff, sending `Last-Event-ID` so a server that replays from it leaves no
 * gap. Nothing makes it give up but `stop()`: a worker must not sit silently dead.
 */
export class StreamConsumer {
  connected = false;
  /** Times an open stream was lost (each one followed by reconnect attempts). */
  reconnects = 0;
  /** Failed attempts in a row; 0 once connected. */
  failures = 0;
  lastEventId: string | undefined;
  lastEventAt: number | undefined;
  lastError: SSEStreamError | undefined;
  /** The server's `retry:` for this stream, in ms; it persists across connections, as the spec says. */
  private serverRetry: number | undefined;
  private connection: SSEConnection | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly sleeper = new Sleeper();
  private readonly logger: Logger;
  /** Whether the stream ever opened: before that, a wrong content type is a mistake, not an outage. */
  private everConnected = false;
  private markStarted!: () => void;
  private refuseStart!: (error: SSEStreamError) => void;
  /**
   * Resolves at the first successful connection, or when the stream is stopped before one; rejects
   * when the server's first answer is a 200 that is not an event stream.
   */
  private readonly started = new Promise<void>((resolve, reject) => {
    this.markStarted = resolve;
    this.refuseStart = reject;
  });

  constructor(
    readonly config: StreamConfig,
    private readonly sink: StreamSink,
    logger: Logger,
    private readonly fetcher: Fetcher,
  ) {
    this.logger = logger.child({ path: config.path });
  }

  /**
   * Starts the loop; resolves once the stream is connected (or stopped first). Rejects with
   * `WEIR_ERR_SSE_CONTENT_TYPE` when the server answers 200 with something that is not
   * `text/event-stream` before the stream ever connected.
   */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.started;
  }

  /** Closes the connection and ends the loop; in-flight reconnect sleeps end at once. */
  async stop(deadline?: Deadline): Promise<void> {
    this.stopping = true;
    this.sleeper.cancel();
    this.connection?.close();
    this.markStarted();
    // A header function that never settles would hold the loop; the deadline bounds the wait.
    if (this.loop) await (deadline ? deadline.race(this.loop) : this.loop);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.failures > 0) {
        const delay = withServerFloor(this.config.reconnectDelay(this.failures), this.serverRetry);
        this.logger.debug(
          { delayMs: Math.round(delay), attempt: this.failures + 1 },
          "reconnecting after a delay",
        );
        if (!(await this.sleeper.sleep(delay))) break;
      }
      const error = await this.connectOnce();
      if (this.stopping) break;
      if (error === undefined) continue;
      if (!this.everConnected && error.code === "WEIR_ERR_SSE_CONTENT_TYPE") {
        // The URL answers, with something that is not an event stream (a web page, a JSON API, an
        // SPA's fallback page): a wrong URL, which retrying would only hide. start() says so.
        this.lastError = error;
        this.refuseStart(error);
        break;
      }
      this.fail(error);
    }
    this.connected = false;
  }

  /** One attempt; resolves with why it ended (`undefined` when weir closed it). */
  private async connectOnce(): Promise<SSEStreamError | undefined> {
    let headers: Headers;
    try {
      headers = await this.config.headers.resolve(this.lastEventId);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      return new SSEStreamError(
        "WEIR_ERR_SSE_HEADERS",
        this.config.safeUrl,
        `could not build the headers: ${reason}`,
        {
          cause,
        },
      );
    }
    const createParser = await loadParser();
    if (this.stopping) return undefined;
    const connection = new SSEConnection(
      createParser,
      this.config.url,
      this.config.safeUrl,
      headers,
      {
        fetcher: this.fetcher,
        idleTimeout: this.config.idleTimeout,
        maxEventSize: this.config.maxEventSize,
      },
      {
        onOpen: () => this.onOpen(),
        onEvent: (name, data, id, receivedAt) => this.onEvent(name, data, id, receivedAt),
        onRetry: (ms) => {
          this.serverRetry = ms;
        },
        waitForRoom: () => this.sink.waitForRoom(),
      },
    );
    this.connection = connection;
    const error = await connection.ended;
    this.connection = undefined;
    if (this.connected) {
      this.connected = false;
      if (!this.stopping) this.reconnects++;
      this.sink.onDisconnect();
    }
    return error;
  }

  private onOpen(): void {
    this.connected = true;
    this.everConnected = true;
    // The backoff restarts after every successful connection: the next drop waits only the floor.
    this.failures = 0;
    this.lastError = undefined;
    this.logger.info({ url: this.config.safeUrl, lastEventId: this.lastEventId }, "SSE stream connected");
    this.markStarted();
  }

  private onEvent(name: string, data: string, id: string | undefined, receivedAt: number): void {
    this.lastEventAt = receivedAt;
    if (id !== undefined) this.lastEventId = id;
    this.sink.onEvent(new SSEEvent(this.config.path, name, data, id, this.lastEventId ?? "", this.logger));
  }

  private fail(error: SSEStreamError): void {
    this.failures++;
    this.lastError = error;
    const where = { url: this.config.safeUrl, failures: this.failures, lastEventId: this.lastEventId };
    // A stack only where code is broken: a headers function that threw. A refused or lost stream is
    // a fact about the server or the network, fully told by its code and message.
    if (error.code === "WEIR_ERR_SSE_HEADERS") {
      this.logger.error(
        { ...where, code: error.code, err: error },
        "SSE headers function failed; retrying with backoff",
      );
    } else if (NEEDS_ATTENTION.has(error.code)) {
      this.logger.error({ ...where, ...failureFields(error) }, "SSE stream refused; retrying with backoff");
    } else if (error.code === "WEIR_ERR_SSE_DISCONNECTED" && this.failures === 1) {
      // The SSE way: servers end streams (deploys, proxies' timeouts) and clients resume from
      // Last-Event-ID. Only a reconnect that keeps failing deserves a warning.
      this.logger.info({ ...where, ...failureFields(error) }, "SSE stream ended; reconnecting");
    } else {
      this.logger.warn({ ...where, ...failureFields(error) }, "SSE connection failed; retrying with backoff");
    }
  }
}
