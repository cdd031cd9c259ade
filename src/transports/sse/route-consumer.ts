import { Actions } from "../../core/constants.js";
import { DeliveryPolicy } from "../../core/consume/policy.js";
import { RouteRunner } from "../../core/consume/route-runner.js";
import type { Deadline } from "../../core/deadline.js";
import { type Instrumentation, noInstrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import { Sleeper } from "../../core/sleeper.js";
import type { RouteHealth } from "../../core/transport.js";
import { eventIds, SSEAcknowledger } from "./acknowledger.js";
import { type Fetcher, globalFetcher } from "./connection.js";
import { SSEHandlerError } from "./errors.js";
import type { SSEEvent } from "./event.js";
import { SSEExceptionActions, type SSERoute } from "./route-spec.js";
import { StreamConsumer } from "./stream-consumer.js";

function iso(time: number | undefined): string | null {
  return time === undefined ? null : new Date(time).toISOString();
}

/**
 * Runs one SSE route: a stream per path feeding core's route runner (bulks, the handler, schema and
 * once-only through core's policy, the stop), with SSE's own ways: a failing handler is re-run in
 * process on the same events (`options.retry`), then `onException` (`continue` or `stop`).
 *
 * Ordering: each stream hands its events to the runner in the order it received them, and bulks
 * start in that order. With `concurrency: 1` (the default) a bulk starts only after the previous one
 * finished, so the handler sees the events of a stream strictly in order. With `concurrency: n`, up
 * to n bulks run at once: bulks still *start* in stream order and each bulk is in order, but a later
 * bulk may finish (and retry) before an earlier one.
 */
export class SSERouteConsumer {
  /** Bulks given up after every retry failed. */
  failedBulks = 0;
  private halted: SSEHandlerError | undefined;
  /** Events pushed and not yet finished (handled, given up, dropped or abandoned). */
  private pending = 0;
  private roomWaiters: Array<() => void> = [];
  private stopping: Promise<void> | undefined;
  private readonly streams: StreamConsumer[];
  private readonly runner: RouteRunner<SSEEvent>;
  private readonly acknowledger: SSEAcknowledger;
  private readonly retrySleeper = new Sleeper();
  private readonly logger: Logger;

  constructor(
    readonly route: SSERoute,
    logger: Logger,
    instrumentation: Instrumentation = noInstrumentation,
    fetcher: Fetcher = globalFetcher(),
  ) {
    this.logger = logger.child({ transport: "sse", route: route.name });
    this.acknowledger = new SSEAcknowledger(this.logger, (count) => this.release(count));
    const settings = {
      route: route.name,
      transport: "sse",
      onSuccess: Actions.ACK,
      onException: Actions.REJECT,
      // SSE re-runs in process (options.retry); there is no delay queue to retry through.
      retry: undefined,
      once: route.once,
      schema: route.schema,
      forwarding: undefined,
    };
    this.runner = new RouteRunner<SSEEvent>({
      // An event that failed is dropped (counted as rejected): SSE cannot give it back.
      route: { ...route, onSuccess: Actions.ACK, onException: Actions.REJECT },
      transport: "sse",
      acknowledger: this.acknowledger,
      policy: DeliveryPolicy.needed(settings)
        ? new DeliveryPolicy<SSEEvent>(settings, this.acknowledger, instrumentation, this.logger)
        : undefined,
      instrumentation,
      logger: this.logger,
      // The first call is the runner's own (its fast path); only a failed one comes here.
      afterFailure: (bulk, error) => this.rerun(bulk, error),
      logFailures: false,
    });
    const sink = {
      onEvent: (event: SSEEvent) => {
        if (this.halted !== undefined) return;
        this.pending++;
        this.runner.push(event);
      },
      // Nothing more may come for a while: hand over what the stream delivered, do not let it age.
      onDisconnect: () => this.runner.flush(),
      waitForRoom: () => this.waitForRoom(),
    };
    this.streams = route.streams.map((stream) => new StreamConsumer(stream, sink, this.logger, fetcher));
  }

  /** Events whose handler call succeeded (or that the handler accepted). */
  get handled(): number {
    return this.acknowledger.handled;
  }

  /** Resolves once every stream of the route is connected (retrying with backoff until then). */
  async start(): Promise<void> {
    await Promise.all(this.streams.map((stream) => stream.start()));
  }

  /** Closes the streams, flushes the partial bulk and waits for the handler up to the deadline. */
  stop(deadline: Deadline): Promise<void> {
    this.stopping ??= this.doStop(deadline);
    return this.stopping;
  }

  private async doStop(deadline: Deadline): Promise<void> {
    const finished = await this.runner.stop(deadline, {
      stopIntake: async (within) => {
        await Promise.all(this.streams.map((stream) => stream.stop(within)));
      },
    });
    // Retries still waiting now give up (and are logged with their ids) instead of outliving stop().
    if (!finished) this.retrySleeper.cancel();
  }

  health(): RouteHealth {
    const streams = this.streams.map((stream) => ({
      path: stream.config.path,
      url: stream.config.safeUrl,
      connected: stream.connected,
      lastEventId: stream.lastEventId ?? null,
      lastEventAt: iso(stream.lastEventAt),
      reconnects: stream.reconnects,
      failures: stream.failures,
      lastError: stream.lastError ? { code: stream.lastError.code, message: stream.lastError.message } : null,
    }));
    let latest: StreamConsumer | undefined;
    for (const stream of this.streams) {
      if (stream.lastEventAt !== undefined && stream.lastEventAt >= (latest?.lastEventAt ?? 0))
        latest = stream;
    }
    const connected = this.streams.every((stream) => stream.connected);
    return {
      name: this.route.name,
      ready: connected && this.halted === undefined,
      connected,
      lastEventId: latest?.lastEventId ?? null,
      lastEventAt: iso(latest?.lastEventAt),
      reconnects: streams.reduce((sum, stream) => sum + stream.reconnects, 0),
      stoppedByException: this.halted ? { code: this.halted.code, message: this.halted.message } : null,
      handled: this.handled,
      failedBulks: this.failedBulks,
      inFlight: this.runner.size,
      // True while the route is full and weir has stopped reading its streams.
      backpressure: this.pending >= this.route.maxPending,
      ...this.runner.stats(),
      streams,
    };
  }

  /** Replaces the handler of every call to come (weir/testing). */
  wrapHandler(wrap: Parameters<RouteRunner<SSEEvent>["wrapHandler"]>[0]): void {
    this.runner.wrapHandler(wrap);
  }

  private waitForRoom(): Promise<void> | undefined {
    if (this.pending < this.route.maxPending) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private release(count: number): void {
    this.pending -= count;
    if (this.pending >= this.route.maxPending || this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * After the handler failed on `bulk` (its first call, by the runner): re-runs it on the same
   * events while it fails (`options.retry`), each call bounded by the route's `timeout`. Events the
   * handler decided (`accept()`, `reject()`) are not given again. Resolves once a re-run succeeded;
   * throws once it gives up, after telling why.
   */
  private async rerun(bulk: SSEEvent[], firstError: unknown): Promise<void> {
    let given = bulk;
    let error = firstError;
    for (let attempt = 1; ; attempt++) {
      if (attempt >= this.route.maxAttempts || this.halted !== undefined)
        throw this.giveUp(given, attempt, error);
      const delayMs = this.route.retryDelay(attempt);
      this.logger.warn(
        { err: error, ...eventIds(given), attempt, maxAttempts: this.route.maxAttempts, delayMs },
        "handler failed; re-running it on the same events",
      );
      if (!(await this.retrySleeper.sleep(delayMs))) throw this.giveUp(given, attempt, error);
      // Re-runs get a fresh array: a handler that consumed its argument (splice, shift) must not retry on less.
      given = bulk.filter((event) => event.decision === undefined);
      if (given.length === 0) return;
      try {
        await this.runner.callHandler(given);
        return;
      } catch (caught) {
        error = caught;
      }
    }
  }

  /** An SSE event cannot be redelivered: after the last attempt it counts as rejected. */
  private giveUp(events: SSEEvent[], attempts: number, cause: unknown): SSEHandlerError {
    this.failedBulks++;
    const error = new SSEHandlerError(
      this.route.name,
      events.map((event) => event.id),
      attempts,
      cause,
    );
    this.logger.error(
      { err: error, ...eventIds(events), attempts, onException: this.route.onException },
      "handler failed",
    );
    if (this.route.onException === SSEExceptionActions.STOP) this.halt(error);
    return error;
  }

  /** `onException: "stop"`: no event after a failed one reaches the handler; the route goes not ready. */
  private halt(error: SSEHandlerError): void {
    if (this.halted !== undefined) return;
    this.halted = error;
    for (const stream of this.streams) void stream.stop();
    const dropped = this.runner.drop(() => true);
    this.acknowledger.lost(dropped);
    this.logger.error(
      { ...eventIds(dropped), firstDroppedId: dropped[0]?.id, lastDroppedId: dropped.at(-1)?.id },
      "route stopped by onException: stop; its streams are closed and it reports not ready",
    );
  }
}
