import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type * as Fastify from "fastify";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { Deadline } from "../../core/deadline.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import type { Logger } from "../../core/logger.js";
import { HTTPStartError, PortInUseError } from "./errors.js";
import { RequestIntake } from "./intake.js";
import { installJsonBodies } from "./json-body.js";
import type { HTTPServerOptions, ResolvedHTTPOptions } from "./options.js";
import { installErrorReplies } from "./replies.js";
import { installRequestLoggers, serverLogger } from "./request-logger.js";
import { closeSilentClients } from "./silent-clients.js";

/**
 * The Node server options behind weir's timeouts. `connectionsCheckingInterval` can only be given
 * when the server is created, through fastify's `http` option (what fastify hands to Node's
 * `createServer`); the head and request timeouts go with it, so that Node's own check (the head
 * at most the request) sees the final values.
 */
function serverTimeouts(options: ResolvedHTTPOptions): HTTPServerOptions {
  return {
    http: {
      headersTimeout: options.headersTimeout,
      requestTimeout: options.requestTimeout,
      connectionsCheckingInterval: options.connectionsCheckingInterval,
    },
  } as HTTPServerOptions;
}

/** Where the server listens once started. */
export interface HTTPAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, IPv6 hosts in brackets: ready to hand to `fetch`. */
  readonly url: string;
}

/** What fastify's own "listening" log line is replaced with, so that weir can drop it (see `listen`). */
const FASTIFY_LISTENING_TEXT = "weir: fastify listening";

/** How long connections may linger after being cut at the stop deadline before weir gives up on them. */
const FORCED_CLOSE_GRACE_MS = 1_000;

/**
 * fastify, required when weir's server is first needed rather than with weir (issue #16): a pure
 * AMQP or SSE worker never loads it. It is CommonJS, so `app.http.server` can stay synchronous.
 */
function loadFastify(): typeof Fastify {
  return createRequire(import.meta.url)("fastify") as typeof Fastify;
}

/** Runs once the fastify instance exists, before anything else is added to it. */
export type InstanceListener = (instance: FastifyInstance) => void;

/**
 * The fastify instance and its listening socket. weir owns the lifecycle: the instance is created on
 * first use (a route, a plugin, weir's endpoints, `app.http.server`), before `start()`, so plugins
 * can be registered on it; it listens in `start()` and closes in `stop()`. An app that never uses it
 * never creates it, and never loads fastify.
 */
export class HTTPServer {
  /** The gate of the user's routes (see `stopIntake`). */
  readonly intake = new RequestIntake();
  private readonly options: ResolvedHTTPOptions;
  private readonly logger: Logger;
  private created: FastifyInstance | undefined;
  private readonly listeners: InstanceListener[] = [];
  private listening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private bound: HTTPAddress | undefined;

  constructor(options: ResolvedHTTPOptions, logger: Logger) {
    this.options = options;
    this.logger = logger;
  }

  /** The fastify instance, created (and fastify loaded) on first access. */
  get instance(): FastifyInstance {
    if (this.created === undefined) {
      this.created = this.create();
      for (const listener of this.listeners) listener(this.created);
    }
    return this.created;
  }

  /** Whether the instance exists: until then nothing was added to it, and there is nothing to close. */
  get exists(): boolean {
    return this.created !== undefined;
  }

  /**
   * `listener` runs with the instance as soon as it exists (at once if it already does), in the
   * order given, before whatever first asked for it is added: hooks installed here see every route.
   */
  whenCreated(listener: InstanceListener): void {
    if (this.created !== undefined) listener(this.created);
    else this.listeners.push(listener);
  }

  private create(): FastifyInstance {
    const options = this.options;
    const { fastify, LogController } = loadFastify();
    const { childLoggerFactory, ...given } = options.fastify;
    // fastify with a logger builds a child logger for every request and times every response (for
    // its request log): weir hands it its logger only when that log is asked for. Otherwise fastify
    // has none, and weir gives `instance.log` and `request.log` its own (request-logger.ts).
    const instance = options.logRequests
      ? fastify({
          ...options.fastify,
          ...serverTimeouts(options),
          // Typed as fastify's base logger so the instance has fastify's default type parameters.
          loggerInstance: this.logger as FastifyBaseLogger,
          logController: new LogController({ disableRequestLogging: false }),
        })
      : fastify({
          ...given,
          ...serverTimeouts(options),
          logController: new LogController({ disableRequestLogging: true }),
        });
    if (!options.logRequests) installRequestLoggers(instance, serverLogger(this.logger), childLoggerFactory);
    // Set on the server itself too: fastify reads a 0 as "use my default", and the head timeout is
    // not one of its options. Node checks them on every connection each `connectionsCheckingInterval`.
    const server = instance.server as {
      headersTimeout?: number;
      requestTimeout?: number;
      keepAliveTimeout?: number;
    };
    server.headersTimeout = options.headersTimeout;
    server.requestTimeout = options.requestTimeout;
    server.keepAliveTimeout = options.keepAliveTimeout;
    // fastify's own connectionTimeout, when given, is the user's choice of inactivity rule.
    if (!options.fastify.connectionTimeout) {
      closeSilentClients(instance.server, options.headersTimeout, options.connectionsCheckingInterval);
    }
    // Declared up front so every request object has the same shape (fastify's advice for speed).
    instance.decorateRequest("auth", undefined);
    installErrorReplies(instance);
    installJsonBodies(instance);
    // A kept-alive connection whose request was in flight at stop() would otherwise stay open until
    // its keep-alive timeout and hold the stop up to the deadline: the intake asks the client to
    // close it after the response (RequestIntake.close), without a hook on every response.
    return instance;
  }

  /** Set once listening, cleared when stopping. */
  get address(): HTTPAddress | undefined {
    return this.closing === undefined ? this.bound : undefined;
  }

  /** Whether `listen()` has been called: after it, fastify accepts no more routes or plugins. */
  get started(): boolean {
    return this.listening !== undefined;
  }

  listen(): Promise<void> {
    this.listening ??= this.doListen();
    return this.listening;
  }

  private async doListen(): Promise<void> {
    const { host, port } = this.options;
    refuseWhenInspecting(`an HTTP listen on ${host}:${port}`);
    // fastify logs "Server listening at ..." itself, once per address (several for 0.0.0.0), and
    // unconditionally. The transport logs the event once, with the URL and the routes, so fastify's
    // lines are recognised by their text and dropped, only while listen() runs.
    const log = this.instance.log;
    const logInfo = log.info;
    log.info = ((...args: Parameters<typeof logInfo>) => {
      if (args[0] !== FASTIFY_LISTENING_TEXT) logInfo.apply(log, args);
    }) as typeof logInfo;
    try {
      await this.instance.listen({ host, port, listenTextResolver: () => FASTIFY_LISTENING_TEXT });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new PortInUseError(host, port, { cause: error });
      }
      throw new HTTPStartError(
        `the HTTP server could not start on ${host}:${port}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    } finally {
      log.info = logInfo;
    }
    const info = this.instance.server.address() as AddressInfo;
    const shown = info.family === "IPv6" ? `[${info.address}]` : info.address;
    this.bound = { host: info.address, port: info.port, url: `http://${shown}:${info.port}` };
  }

  /**
   * Stops the user's routes taking requests (they get a 503 and `connection: close`) while the
   * socket keeps listening for weir's own endpoints, and resolves once the requests they had let in
   * are answered, or at the deadline. `close()` closes the socket later.
   */
  async stopIntake(deadline: Deadline): Promise<void> {
    this.intake.close();
    if (this.listening === undefined) return;
    await this.listening.catch(() => undefined);
    if (!(await this.intake.drained(deadline))) {
      this.logger.warn(
        "HTTP requests still in flight at the stop deadline; their connections are cut when the server closes",
      );
    }
  }

  /**
   * Stops accepting connections (new requests on kept-alive ones get a 503), waits for in-flight
   * requests until the deadline, then cuts what is left. Resolves shortly after the deadline at worst.
   */
  close(deadline: Deadline): Promise<void> {
    this.intake.close();
    this.closing ??= this.doClose(deadline);
    return this.closing;
  }

  private async doClose(deadline: Deadline): Promise<void> {
    if (this.listening === undefined) return;
    await this.listening.catch(() => undefined);
    const closed = this.instance.close();
    if (await deadline.race(closed)) {
      await closed;
      return;
    }
    this.logger.warn("HTTP connections still open at the stop deadline; cutting them");
    this.instance.server.closeAllConnections();
    if (!(await new Deadline(FORCED_CLOSE_GRACE_MS).race(closed))) {
      this.logger.error("the HTTP server did not close after its connections were cut");
    }
  }
}
