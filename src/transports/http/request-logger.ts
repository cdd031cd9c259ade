import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions, RouteOptions } from "fastify";
import { type Bindings, type ChildLoggerOptions, type Logger, pino } from "pino";

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
type Log = (...args: unknown[]) => void;

/**
 * `request.log` (and `reply.log`) of weir's fastify instance: the app's logger bound to the request
 * id, as fastify's own per-request child is, but built only when a line is written. fastify builds
 * a pino child for every request when it has a logger (`logger.child({ reqId })`, its bindings
 * serialised at once) and times every response for its request log; most requests never log, and
 * that was a large part of the HTTP pair's gap to bare fastify (issue #19). A line below the
 * logger's level builds nothing either.
 */
export class RequestLogger implements FastifyBaseLogger {
  private built: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bound: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  /** The pino child fastify would have made, made now. */
  private get logger(): Logger {
    this.built ??= this.parent.child(this.bound, this.options);
    return this.built;
  }

  /** Whether a line at `level` would be written; asks the parent while there is no child. */
  private writes(level: Level): boolean {
    if (this.built !== undefined || this.options.level !== undefined) return true;
    return this.parent.isLevelEnabled(level);
  }

  get level(): string {
    return this.built?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  fatal(...args: unknown[]): void {
    if (this.writes("fatal")) (this.logger.fatal as Log)(...args);
  }

  error(...args: unknown[]): void {
    if (this.writes("error")) (this.logger.error as Log)(...args);
  }

  warn(...args: unknown[]): void {
    if (this.writes("warn")) (this.logger.warn as Log)(...args);
  }

  info(...args: unknown[]): void {
    if (this.writes("info")) (this.logger.info as Log)(...args);
  }

  debug(...args: unknown[]): void {
    if (this.writes("debug")) (this.logger.debug as Log)(...args);
  }

  trace(...args: unknown[]): void {
    if (this.writes("trace")) (this.logger.trace as Log)(...args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.logger.child(bindings, options);
  }

  isLevelEnabled(level: string): boolean {
    return this.built === undefined && this.options.level === undefined
      ? this.parent.isLevelEnabled(level)
      : this.logger.isLevelEnabled(level);
  }

  bindings(): Bindings {
    return this.logger.bindings();
  }
}

/** fastify's serializers of its request, reply and error objects (fastify/lib/logger-pino.js). */
const FASTIFY_SERIALIZERS = {
  req: (request: {
    method: string;
    url: string;
    headers?: Record<string, unknown>;
    host?: string;
    ip?: string;
    socket?: { remotePort?: number };
  }) => ({
    method: request.method,
    url: request.url,
    version: request.headers?.["accept-version"],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }),
  res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
  err: pino.stdSerializers.err,
};

/**
 * The logger fastify would have derived from weir's when handed it (`loggerInstance`): a child
 * with fastify's serializers, the logger's own winning.
 */
export function serverLogger(logger: Logger): Logger {
  const own = (logger as unknown as Record<symbol, Record<string, unknown> | undefined>)[
    pino.symbols.serializersSym
  ];
  return logger.child({}, { serializers: { ...FASTIFY_SERIALIZERS, ...own } });
}

/** fastify's child logger factory (its type is not exported by name). */
type Factory = NonNullable<FastifyServerOptions["childLoggerFactory"]>;

/**
 * Gives `instance` weir's logger without handing it to fastify as its logger, which would make
 * fastify build a child logger and time the response of every request: `instance.log` is
 * `logger`, `request.log` a {@link RequestLogger} of it. A child logger factory of the user's (the
 * `childLoggerFactory` option, `setChildLoggerFactory`, a route's) gets `logger` as its parent,
 * as it would have with fastify's logger.
 */
export function installRequestLoggers(
  instance: FastifyInstance,
  logger: Logger,
  userFactory?: Factory,
): void {
  const writable = instance as { log: FastifyBaseLogger };
  writable.log = logger as FastifyBaseLogger;
  const withParent = (factory: Factory): Factory =>
    function userChildLogger(this: FastifyInstance, _nullLogger, bindings, options, raw) {
      return factory.call(this, logger as FastifyBaseLogger, bindings, options, raw);
    } as Factory;
  instance.setChildLoggerFactory(
    userFactory !== undefined
      ? withParent(userFactory)
      : (_nullLogger, bindings, options) => new RequestLogger(logger, bindings, options),
  );
  const setFactory = instance.setChildLoggerFactory;
  instance.setChildLoggerFactory = function setChildLoggerFactory(this: FastifyInstance, factory: Factory) {
    return setFactory.call(this, withParent(factory));
  };
  instance.addHook("onRoute", (route: RouteOptions) => {
    if (route.childLoggerFactory !== undefined)
      route.childLoggerFactory = withParent(route.childLoggerFactory);
  });
}
