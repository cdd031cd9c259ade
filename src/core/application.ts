import { Deadline } from "./deadline.js";
import { ConfigurationError, InvalidHandlerError, LifecycleError, WeirError } from "./errors.js";
import { type Hook, HookList } from "./hooks.js";
import { recordWhenInspecting, refuseWhenInspecting } from "./inspect.js";
import { appLogger, failureFields, type Logger } from "./logger.js";
import { type PeriodicTask, PeriodicTaskRunner, type RunEveryOptions } from "./periodic-task.js";
import type { RouteRecord, Transport, TransportHealth } from "./transport.js";
import { duration, nonEmptyString } from "./validate.js";

/** Options every App has, whatever its transports. */
export interface CoreOptions {
  /**
   * The pino logger weir logs through. weir logs through a child of it that binds the app's `name`
   * (or `app`, when your logger already binds a `name` of its own), and binds children of that to
   * `{ transport, route }`; your logger's own bindings and settings are kept.
   * @defaultValue pino on stdout at level `WEIR_LOG_LEVEL` (else `info`): pretty lines (pino-pretty)
   * when stdout is a terminal, one JSON object per line otherwise; `WEIR_LOG_FORMAT=pretty|json`
   * overrides that choice
   */
  logger?: Logger;
  /**
   * How long `stop()` may take to hand received messages to their handlers and settle them (ms).
   * What has not started by then is requeued.
   * @defaultValue 30000
   */
  shutdownTimeout?: number;
  /**
   * The application's name: in logs and in the broker's connection names (`weir:<name>:<vhost>`).
   * @defaultValue "weir"
   */
  name?: string;
}

export interface AppHealth {
  /** True when every started transport reports every route ready. */
  readonly ready: boolean;
  readonly transports: readonly TransportHealth[];
}

/**
 * @internal The key under which an App keeps its transports (a `ReadonlyMap` by type), for
 * weir/testing, the CLI and the AsyncAPI generator. `Symbol.for`, so an App built by another copy of
 * weir in the same process is still read.
 */
export const appTransports: unique symbol = Symbol.for("weir.appTransports");

type State = "created" | "starting" | "running" | "stopping" | "stopped";

/** How long a process whose start failed may take to flush its logs and end by itself (ms). */
const FAILED_START_EXIT_GRACE_MS = 2000;

/** How close a second signal must follow the first to be the same request (ms). */
const SIGNAL_ECHO_MS = 1000;

/**
 * A stop with nothing to drain can end before the forwarded copy of its signal arrives, which, with
 * no listener left, would kill the process with that signal (exit 130 instead of 0). Until the
 * window closes, the copy is ignored; the timer does not keep the process alive.
 */
function ignoreEcho(remainingMs: number): void {
  if (remainingMs <= 0) return;
  const ignore = (): void => {};
  process.on("SIGINT", ignore);
  process.on("SIGTERM", ignore);
  setTimeout(() => {
    process.off("SIGINT", ignore);
    process.off("SIGTERM", ignore);
  }, remainingMs).unref();
}

/**
 * The transport-independent engine behind `App`: the route table, shared state, lifecycle hooks and
 * the start/stop sequence. Transports are plugged in by the composition root (`src/app.ts`).
 */
export class Application<S extends object = Record<string, unknown>> {
  /** Your singletons (database pools, clients): set them in a startup hook, use them in handlers. */
  readonly state: S = {} as S;
  /** The logger weir logs through, the app's name bound on every line; use it in handlers and hooks. */
  readonly logger: Logger;
  readonly name: string;
  protected readonly shutdownTimeout: number;
  private readonly transports = new Map<string, Transport>();
  private readonly startupHooks = new HookList<this>("a startup hook");
  private readonly shutdownHooks = new HookList<this>("a shutdown hook");
  private readonly routeRecords: RouteRecord[] = [];
  private readonly periodicTasks: PeriodicTaskRunner<this>[] = [];
  /** Started once the app runs, stopped first when it stops: the task schedules. */
  private readonly services: Array<{ start(): void; stop(): Promise<void> }> = [];
  /** Closed after the shutdown hooks (which may still use them), started or not: the task store. */
  private readonly closers: Array<() => Promise<void>> = [];
  private lifecycle: State = "created";
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private requestStop: () => void = () => {};
  private readonly stopRequested = new Promise<void>((resolve) => {
    this.requestStop = resolve;
  });

  constructor(options: CoreOptions = {}) {
    this.name = nonEmptyString("name", options.name, "weir");
    this.logger = appLogger(this.name, options.logger);
    this.shutdownTimeout = duration("shutdownTimeout", options.shutdownTimeout, 30_000, 0);
    recordWhenInspecting(this);
  }

  /** Where the app is in its lifecycle. */
  get status(): State {
    return this.lifecycle;
  }

  /** The routes registered so far, in registration order. */
  get routes(): readonly RouteRecord[] {
    return this.routeRecords;
  }

  /** Registers a hook run by `start()`, in registration order, before any transport starts. */
  onStartup<H extends Hook<this>>(hook: H): H {
    return this.startupHooks.add(hook);
  }

  /** Registers a hook run by `stop()`, in reverse order, after every message is settled. */
  onShutdown<H extends Hook<this>>(hook: H): H {
    return this.shutdownHooks.add(hook);
  }

  /**
   * Runs `task(app)` once when the app has started (after the startup hooks and the transports), then
   * every `intervalMs`. A tick that finds `maxConcurrency` runs busy starts nothing; one missed run
   * starts as soon as a run finishes, further missed ticks are dropped. An error is logged and the
   * schedule goes on. `stop()` stops the ticks and waits for running tasks up to `shutdownTimeout`
   * (a task that awaits `app.stop()` itself would wait for its own end: call it without awaiting).
   * Returns the task. Misuse throws a `WeirError` here.
   */
  runEvery<T extends PeriodicTask<this>>(intervalMs: number, task: T, options?: RunEveryOptions): T {
    if (this.lifecycle !== "created") {
      throw new LifecycleError("WEIR_ERR_APP_STARTED", "periodic tasks must be registered before start()");
    }
    this.periodicTasks.push(new PeriodicTaskRunner<this>(intervalMs, task, options, this.logger));
    return task;
  }

  /** Registers something that runs while the app runs (started last, stopped first). */
  protected addService(service: { start(): void; stop(): Promise<void> }): void {
    this.services.push(service);
  }

  /** Registers what `stop()` closes after the shutdown hooks, whether the app started or not. */
  protected addCloser(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  protected addTransport(transport: Transport): void {
    this.transports.set(transport.type, transport);
  }

  /** @internal The app's transports by type, in registration order. */
  get [appTransports](): ReadonlyMap<string, Transport> {
    return this.transports;
  }

  protected transportList(): Transport[] {
    return [...this.transports.values()];
  }

  /** The transport of route type `type`; throws `WEIR_ERR_UNKNOWN_ROUTE_TYPE` when none is registered. */
  protected transportOf(type: string): Transport {
    const transport = this.transports.get(type);
    if (transport === undefined) {
      throw new ConfigurationError(
        "WEIR_ERR_UNKNOWN_ROUTE_TYPE",
        `no transport of type ${type} is registered`,
      );
    }
    return transport;
  }

  /** Records a route after checking what every route type shares; the transport checks the rest. */
  protected addRoute(routes: unknown, spec: unknown, handler: unknown): void {
    if (this.lifecycle !== "created") {
      throw new LifecycleError("WEIR_ERR_APP_STARTED", "routes must be registered before start()");
    }
    if (!Array.isArray(routes) || routes.length === 0) {
      throw new ConfigurationError("WEIR_ERR_EMPTY_ROUTES", "a route needs a non-empty array of names");
    }
    for (const name of routes) {
      if (typeof name !== "string" || name.length === 0) {
        throw new ConfigurationError("WEIR_ERR_EMPTY_ROUTES", `route names must be non-empty strings`);
      }
    }
    if (typeof spec !== "object" || spec === null) {
      throw new ConfigurationError("WEIR_ERR_UNKNOWN_ROUTE_TYPE", "a route needs a definition with a type");
    }
    const type = (spec as { type?: unknown }).type;
    const transport = typeof type === "string" ? this.transports.get(type) : undefined;
    if (transport === undefined) {
      const known = [...this.transports.keys()].join(", ");
      throw new ConfigurationError(
        "WEIR_ERR_UNKNOWN_ROUTE_TYPE",
        `unknown route type ${String(type)} (known: ${known})`,
      );
    }
    if (typeof handler !== "function") throw new InvalidHandlerError("a route handler");
    const record: RouteRecord = { routes: [...routes], spec: spec as { type: string }, handler };
    transport.register(record);
    this.routeRecords.push(record);
  }

  /**
   * Runs the startup hooks in order, then starts every transport that has work; resolves once every
   * route is attached. Calling it again returns the same promise. If anything fails, what was started
   * is stopped (shutdown hooks included) and the error is rethrown. In a process that only reads
   * routes (`weir routes`, `weir asyncapi`) it rejects with `WEIR_ERR_INSPECT_ONLY` and does nothing.
   */
  start(): Promise<void> {
    try {
      refuseWhenInspecting("app.start()");
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.starting && this.stopping === undefined) return this.starting;
    if (this.lifecycle !== "created") {
      return Promise.reject(new LifecycleError("WEIR_ERR_APP_STOPPED", "a stopped app cannot start again"));
    }
    this.lifecycle = "starting";
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    try {
      await this.startupHooks.runInOrder(this);
      this.assertNotStopping();
      await Promise.all([...this.activeTransports()].map((transport) => transport.start()));
      this.assertNotStopping();
    } catch (error) {
      const stoppedMeanwhile = this.stopping !== undefined;
      if (!stoppedMeanwhile) {
        // A coded error (a missing queue, a refused login, a broker out of reach) is fully told by
        // its code and message; anything else (a startup hook that threw) is a bug: its stack too.
        const fields = error instanceof WeirError ? failureFields(error) : { err: error };
        this.logger.error(fields, "start failed; stopping what was started");
      }
      await this.stop();
      // A start that failed because stop() tore it down is a stop, not a start failure.
      if (stoppedMeanwhile && !(error instanceof LifecycleError)) {
        throw new LifecycleError(
          "WEIR_ERR_STOPPED_DURING_START",
          "stop() was called while the app was starting",
          {
            cause: error,
          },
        );
      }
      throw error;
    }
    this.lifecycle = "running";
    // Last, so a task finds its startup-hook state and can already publish.
    for (const task of this.periodicTasks) task.start(this);
    for (const service of this.services) service.start();
    this.logger.info({ routes: this.routeRecords.length }, "app started");
  }

  private assertNotStopping(): void {
    if (this.stopping !== undefined) {
      throw new LifecycleError(
        "WEIR_ERR_STOPPED_DURING_START",
        "stop() was called while the app was starting",
      );
    }
  }

  /**
   * Stops intake, lets every received message reach its handler and be settled within
   * `shutdownTimeout`, requeues the rest, closes connections, runs the shutdown hooks in reverse
   * order, and only then closes the health and metrics endpoints (they answer through the whole
   * stop, `/ready` with 503 `stopping`). Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.requestStop();
    this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const wasStarted = this.lifecycle !== "created";
    this.lifecycle = "stopping";
    const deadline = new Deadline(this.shutdownTimeout);
    this.logger.info({ timeoutMs: this.shutdownTimeout }, "stopping");
    // Ticks stop first, so nothing new starts; running tasks are awaited alongside the transports'
    // drain (they are independent of intake, so waiting in series would only split the budget) and
    // before connections close and shutdown hooks run, because a task may publish or use app.state.
    for (const task of this.periodicTasks) task.stopTicking();
    // Schedules stop before intake does: no tick enqueues a run while the app drains.
    if (wasStarted) {
      await Promise.all(
        this.services.map((service) =>
          service
            .stop()
            .catch((error: unknown) => this.logger.error({ err: error }, "failed to stop cleanly")),
        ),
      );
    }
    const tasksDrained = Promise.all(this.periodicTasks.map((task) => task.drain(deadline)));
    // Two phases: every transport drains first (an HTTP or AMQP handler that is still running may
    // publish), and only then are shared connections released.
    const transports = [...this.transports.values()];
    await Promise.all(transports.map((transport) => this.safely(transport, () => transport.stop(deadline))));
    await tasksDrained;
    await Promise.all(
      transports.map((transport) => this.safely(transport, () => transport.close?.(deadline))),
    );
    if (wasStarted) {
      for (const error of await this.shutdownHooks.runReversed(this)) {
        this.logger.error({ err: error }, "shutdown hook failed");
      }
    }
    for (const close of this.closers) {
      await close().catch((error: unknown) => this.logger.error({ err: error }, "failed to close cleanly"));
    }
    // Last: /health, /ready ("stopping") and /metrics answer through the whole drain, so an
    // orchestrator does not kill a worker mid-drain and the final counters can still be scraped.
    await Promise.all(
      transports.map((transport) => this.safely(transport, () => transport.closeLast?.(deadline))),
    );
    this.lifecycle = "stopped";
    this.logger.info("stopped");
  }

  private async safely(transport: Transport, step: () => Promise<void> | undefined): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.logger.error({ err: error, transport: transport.type }, "transport failed to stop cleanly");
    }
  }

  /**
   * Starts the app and keeps it running until SIGINT or SIGTERM (or `stop()`), then stops it
   * gracefully. Two signals within 1 s count as one (Ctrl-C under npm delivers two: the terminal's
   * and npm's forward); a third, or a second one more than 1 s after the first, exits the process at
   * once with code 130, without waiting for the drain.
   *
   * `run()` owns the process: if `start()` fails (a missing queue, a refused login, a broker out of
   * reach after `amqp.reconnect.maxAttempts`), the failure is logged as one error line with its
   * code and message, what was started is stopped, and the process exits with code 1. To handle a
   * start failure in code instead, call `start()` and `stop()` yourself. In a process that only
   * reads routes (`weir routes`, `weir asyncapi`) it rejects with `WEIR_ERR_INSPECT_ONLY` at once:
   * no hook runs, no signal handler is installed, the process does not exit.
   */
  async run(): Promise<void> {
    refuseWhenInspecting("app.run()");
    // Ctrl-C in a terminal reaches every process of the foreground group, and a parent that
    // forwards signals (npm, a shell wrapper, a supervisor) sends the same one again: one press, two
    // signals within milliseconds. They count as one; a third, or a second one later than that, is
    // a person asking again, and forces the exit.
    let firstAt: number | undefined;
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      const now = performance.now();
      if (firstAt === undefined) {
        firstAt = now;
        this.logger.info({ signal }, "signal received, stopping");
        void this.stop();
        return;
      }
      if (signals === 2 && now - firstAt <= SIGNAL_ECHO_MS) {
        this.logger.debug({ signal }, "second signal within 1 s: the same stop request");
        return;
      }
      this.logger.warn({ signal }, "signal received again: exiting without waiting");
      process.exit(130);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      try {
        await this.start();
      } catch (error) {
        // A signal during a slow start (broker down at boot) is a normal stop, not a failure.
        if (error instanceof LifecycleError && error.code === "WEIR_ERR_STOPPED_DURING_START") return;
        // start() has logged the failure (one line, with its code) and stopped what it started.
        // Rethrowing would make Node print the same error again as an uncaught exception, with its
        // stack, after the log line; run() owns the process, so it ends it, as a failed start must.
        // Not with an immediate process.exit(): the log lines still in flight (pino writes through
        // a stream, pretty lines through a worker thread) would be cut. The process ends on its own
        // once idle, with code 1; a handle someone left open cannot keep it alive past the grace.
        process.exitCode = 1;
        this.logger.flush?.();
        setTimeout(() => process.exit(1), FAILED_START_EXIT_GRACE_MS).unref();
        return;
      }
      await this.stopRequested;
      await this.stop();
    } finally {
      // The echo's listener goes on before run()'s own comes off: a signal with no listener at all
      // in between would get Node's default action, and kill the stopped process with it.
      if (firstAt !== undefined) ignoreEcho(SIGNAL_ECHO_MS - (performance.now() - firstAt));
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }

  /** What each transport reports about its routes; `ready` is what a load balancer should ask. */
  health(): AppHealth {
    const transports = [...this.activeTransports()].map((transport) => transport.health());
    return { ready: this.lifecycle === "running" && transports.every((t) => t.ready), transports };
  }

  private *activeTransports(): Iterable<Transport> {
    for (const transport of this.transports.values()) if (transport.needed()) yield transport;
  }
}
