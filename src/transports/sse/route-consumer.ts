import { BulkPipeline } from "../../core/bulk-pipeline.js";
import type { Deadline } from "../../core/deadline.js";
import { callHandler } from "../../core/handler-call.js";
import { type HandlerCall, type Instrumentation, noInstrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import { Sleeper } from "../../core/sleeper.js";
import type { RouteHealth } from "../../core/transport.js";
import { type Fetcher, globalFetcher } from "./connection.js";
import { SSEHandlerError } from "./errors.js";
import type { SSEEvent } from "./event.js";
import { SSEExceptionActions, type SSERoute } from "./route-spec.js";
import { StreamConsumer } from "./stream-consumer.js";

/** Enough ids to find a bulk in the server's logs, not so many that one log line is megabytes. */
const MAX_LOGGED_IDS = 100;

function eventIds(events: readonly SSEEvent[]): { eventIds: (string | undefined)[]; count: number } {
  return { eventIds: events.slice(0, MAX_LOGGED_IDS).map((event) => event.id), count: events.length };
}

function iso(time: number | undefined): string | null {
  return time === undefined ? null : new Date(time).toISOString();
}

/**
 * Runs one SSE route: a stream per path feeding one bulk pipeline, the handler with its retries and
 * its `onException` policy.
 *
 * Ordering: each stream hands its events to the pipeline in the order it received them, and the
 * pipeline starts bulks in that order. With `concurrency: 1` (the default) a bulk starts only after
 * the previous one finished, so the handler sees the events of a stream strictly in order. With
 * `concurrency: n`, up to n bulks run at once: bulks still *start* in stream order and each bulk is
 * in order, but a later bulk may finish (and retry) before an earlier one.
 */
export class SSERouteConsumer {
  /** Events whose handler call succeeded. */
  handled = 0;
  /** Bulks given up after every retry failed. */
  failedBulks = 0;
  private halted: SSEHandlerError | undefined;
  /** Events pushed and not yet finished (handled, given up, dropped or abandoned). */
  private pending = 0;
  private roomWaiters: Array<() => void> = [];
  private stopping: Promise<void> | undefined;
  private readonly streams: StreamConsumer[];
  private readonly pipeline: BulkPipeline<SSEEvent>;
  private readonly retrySleeper = new Sleeper();
  private readonly logger: Logger;

  constructor(
    readonly route: SSERoute,
    logger: Logger,
    private readonly instrumentation: Instrumentation = noInstrumentation,
    fetcher: Fetcher = globalFetcher(),
  ) {
    this.logger = logger.child({ transport: "sse", route: route.name });
    this.pipeline = new BulkPipeline<SSEEvent>({
      bulkSize: route.bulkSize,
      flushInterval: route.flushInterval,
      concurrency: route.concurrency,
      process: this.process,
      // SSE has no redelivery: a bulk that never started before the shutdown deadline is lost, and
      // its ids are logged so it can be replayed from the server by hand.
      abandon: (bulk) => {
        this.logger.error(eventIds(bulk), "shutdown deadline passed before these events reached the handler");
        this.release(bulk.length);
      },
    });
    const sink = {
      onEvent: (event: SSEEvent) => {
        if (this.halted !== undefined) return;
        this.pending++;
        this.pipeline.push(event);
      },
      // Nothing more may come for a while: hand over what the stream delivered, do not let it age.
      onDisconnect: () => this.pipeline.flush(),
      waitForRoom: () => this.waitForRoom(),
    };
    this.streams = route.streams.map((stream) => new StreamConsumer(stream, sink, this.logger, fetcher));
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
    await Promise.all(this.streams.map((stream) => stream.stop(deadline)));
    const finished = await this.pipeline.drain(deadline);
    if (!finished) {
      // Retries still waiting now give up (and are logged with their ids) instead of outliving stop().
      this.retrySleeper.cancel();
      this.logger.warn(
        { inHandler: this.pipeline.size },
        "shutdown deadline passed with events still in a handler",
      );
    }
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
      inFlight: this.pipeline.size,
      // True while the route is full and weir has stopped reading its streams.
      backpressure: this.pending >= this.route.maxPending,
      streams,
    };
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

  private readonly process = async (bulk: SSEEvent[]): Promise<void> => {
    // Re-runs get a fresh array: a handler that consumed its argument (splice, shift) must not retry on less.
    const events = this.route.maxAttempts > 1 ? [...bulk] : bulk;
    try {
      await this.attempt(bulk, events);
    } finally {
      this.release(events.length);
    }
  };

  private async attempt(bulk: SSEEvent[], events: SSEEvent[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const given = attempt === 1 ? bulk : [...events];
        const { handler, timeout } = this.route;
        if (this.instrumentation === noInstrumentation) await callHandler(handler, given, timeout);
        else
          await this.instrumentation.runHandler(this.handlerCall(given), async () =>
            callHandler(handler, given, timeout),
          );
        this.handled += events.length;
        this.instrumentation.settled("sse", this.route.name, "ack", events.length);
        return;
      } catch (error) {
        if (attempt >= this.route.maxAttempts || this.halted !== undefined) {
          this.giveUp(events, attempt, error);
          return;
        }
        const delayMs = this.route.retryDelay(attempt);
        this.logger.warn(
          { err: error, ...eventIds(events), attempt, maxAttempts: this.route.maxAttempts, delayMs },
          "handler failed; re-running it on the same events",
        );
        if (!(await this.retrySleeper.sleep(delayMs))) {
          this.giveUp(events, attempt, error);
          return;
        }
      }
    }
  }

  private handlerCall(events: readonly SSEEvent[]): HandlerCall {
    return { transport: "sse", route: this.route.name, size: events.length, carriers: () => [] };
  }

  /** An SSE event cannot be redelivered: after the last attempt it counts as rejected. */
  private giveUp(events: SSEEvent[], attempts: number, cause: unknown): void {
    this.failedBulks++;
    this.instrumentation.settled("sse", this.route.name, "reject", events.length);
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
  }

  /** `onException: "stop"`: no event after a failed one reaches the handler; the route goes not ready. */
  private halt(error: SSEHandlerError): void {
    if (this.halted !== undefined) return;
    this.halted = error;
    for (const stream of this.streams) void stream.stop();
    const dropped = this.pipeline.drop(() => true);
    this.release(dropped.length);
    this.logger.error(
      { ...eventIds(dropped), firstDroppedId: dropped[0]?.id, lastDroppedId: dropped.at(-1)?.id },
      "route stopped by onException: stop; its streams are closed and it reports not ready",
    );
  }
}
