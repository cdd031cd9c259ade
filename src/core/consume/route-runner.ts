import { BulkPipeline } from "../bulk-pipeline.js";
import { type Action, Actions } from "../constants.js";
import type { Deadline } from "../deadline.js";
import { UnrecoverableError } from "../errors.js";
import { callHandler } from "../handler-call.js";
import { type HandlerCall, type Instrumentation, noInstrumentation } from "../instrumentation.js";
import type { Logger } from "../logger.js";
import type { Acknowledger } from "./acknowledger.js";
import type { Delivery } from "./delivery.js";
import type { DeliveryPolicy, HandlerOutcome } from "./policy.js";
import type { BulkHandler, ConsumerRoute } from "./route.js";

/** How a runner reaches its transport's source when it stops. */
export interface RouteSource {
  /** Stops taking deliveries (cancel the consumers, close the streams); within the deadline. */
  stopIntake(deadline: Deadline): Promise<void>;
}

/** What a transport gives its route's runner. */
export interface RouteRunnerOptions<D extends Delivery> {
  readonly route: ConsumerRoute<D>;
  /** The transport's type, for metrics and traces. */
  readonly transport: string;
  readonly acknowledger: Acknowledger<D>;
  /** Schema, once-only, retries, dead letters; undefined when the route uses none (the plain path). */
  readonly policy: DeliveryPolicy<D> | undefined;
  readonly instrumentation: Instrumentation;
  /** The route's logger (`{ transport, route }` bound). */
  readonly logger: Logger;
  /**
   * How the handler is called on a bulk, when the transport calls it its own way (SSE re-runs a
   * failing handler in process); it uses `runner.callHandler` for each call. Default: one call.
   */
  readonly call?: (bulk: D[]) => Promise<unknown>;
  /**
   * What the transport does when a handler call on a bulk of a route without a policy failed, when
   * it re-runs the handler its own way (SSE re-runs it in process, `options.retry`): resolves once a
   * re-run succeeded (the bulk settles as handled), rejects with why it gave up (the bulk settles as
   * failed). Each re-run uses `runner.callHandler`. Unlike `call`, the first call stays the runner's
   * own, on its fast path; on a route with a policy it wraps every call the same way. Ignored
   * when `call` is given. Default: the bulk settles as failed at once.
   */
  readonly afterFailure?: (bulk: D[], error: unknown) => Promise<void>;
  /** Whether the runner logs a failed call ("handler failed"); false when `call` tells its own. */
  readonly logFailures?: boolean;
  /**
   * Told when a stop step passes its deadline: `"handlers"` (still running) or `"dead-letter
   * publishes"` (forwards sent outside the pipeline), with when the step began (ms since the epoch).
   * Default: a warning on the route's logger.
   */
  readonly abandoned?: (what: string, startedAt: number, fields: Record<string, unknown>) => void;
}

/**
 * Runs one consuming route, whatever its transport: the bulk pipeline, the handler call (bounded by
 * the route's `timeout`, instrumented), the policy when the route has one, the settlement through
 * the transport's acknowledger, and the stop: intake first, then the drain within the deadline,
 * then what is left is abandoned to the acknowledger (Broadway's terminator). Transports feed it
 * (`push`) and tell it about their source (`drop` what a dead channel can no longer settle).
 */
export class RouteRunner<D extends Delivery> {
  private readonly pipeline: BulkPipeline<D>;
  private readonly route: ConsumerRoute<D>;
  private readonly transport: string;
  private readonly acknowledger: Acknowledger<D>;
  private readonly policy: DeliveryPolicy<D> | undefined;
  private readonly instrumentation: Instrumentation;
  private readonly logger: Logger;
  private readonly logFailures: boolean;
  private readonly abandoned: (what: string, startedAt: number, fields: Record<string, unknown>) => void;
  private readonly afterFailure: ((bulk: D[], error: unknown) => Promise<void>) | undefined;
  /** The handler each call uses; weir/testing wraps it (`wrapHandler`). */
  private handler: BulkHandler<D>;

  constructor(options: RouteRunnerOptions<D>) {
    this.route = options.route;
    this.transport = options.transport;
    this.acknowledger = options.acknowledger;
    this.policy = options.policy;
    this.instrumentation = options.instrumentation;
    this.logger = options.logger;
    this.logFailures = options.logFailures ?? true;
    this.abandoned =
      options.abandoned ??
      ((what, startedAt, fields) =>
        this.logger.warn(
          { what, waitedMs: Date.now() - startedAt, ...fields },
          `shutdown deadline passed: ${what} abandoned`,
        ));
    this.handler = options.route.handler;
    const afterFailure = options.afterFailure;
    this.afterFailure = afterFailure;
    // The policy path and a transport's own `call` take one call function; `afterFailure` is
    // folded into it there (the plain path below applies it itself, after its first call).
    const call =
      options.call ??
      (afterFailure === undefined
        ? (bulk: D[]) => this.callHandler(bulk)
        : async (bulk: D[]) => {
            try {
              await this.callHandler(bulk);
            } catch (error) {
              await afterFailure(bulk, error);
            }
          });
    let processBulk: (bulk: D[], done: () => void) => void;
    if (this.policy !== undefined) processBulk = whenDone(this.policyProcess(call));
    else if (options.call !== undefined) processBulk = whenDone(this.plainProcess(call));
    else processBulk = (bulk, done) => this.plainCall(bulk, done);
    this.pipeline = new BulkPipeline<D>({
      bulkSize: this.route.bulkSize,
      flushInterval: this.route.flushInterval,
      concurrency: this.route.concurrency,
      process: processBulk,
      // Bulks that never started before the stop deadline: back to the broker, or told lost.
      abandon: (bulk) => this.acknowledger.abandon(bulk),
    });
  }

  /** Deliveries received and not yet settled: buffered, waiting for a slot, or in the handler. */
  get size(): number {
    return this.pipeline.size;
  }

  /**
   * Bulks ready and waiting for a concurrency slot. While there are some, the one that just
   * settled is not the last of what arrived together: a transport may hold its answers to send
   * them with the next bulks' (NATS: one socket write for the bulks of one read).
   */
  get queuedBulks(): number {
    return this.pipeline.queuedBulks;
  }

  /** Hands a delivery to the route's bulks. The hot path: nothing else is allocated. */
  push(delivery: D): void {
    this.pipeline.push(delivery);
  }

  /** Hands over the partial bulk now (the source went quiet: a disconnect). */
  flush(): void {
    this.pipeline.flush();
  }

  /** Removes the deliveries not yet in a handler that `match` (their channel died); returns them. */
  drop(match: (delivery: D) => boolean): D[] {
    return this.pipeline.drop(match);
  }

  /** Replaces the handler of every call to come (weir/testing's async-context attribution). */
  wrapHandler(wrap: (handler: BulkHandler<D>) => BulkHandler<D>): void {
    this.handler = wrap(this.handler);
  }

  /** Counters for `health()`: the policy's (retried, dead-lettered, duplicates) when it has one. */
  stats(): Record<string, number> {
    return this.policy?.stats() ?? {};
  }

  /**
   * Stops the route: intake first (no new deliveries), then waits up to the deadline for what was
   * received to be handled and settled; bulks that never started are abandoned to the acknowledger;
   * a handler still running at the deadline is logged (its deliveries come back from the broker).
   * Resolves with whether everything finished in time.
   */
  async stop(deadline: Deadline, source: RouteSource): Promise<boolean> {
    this.policy?.stop();
    await source.stopIntake(deadline);
    const draining = Date.now();
    const finished = await this.pipeline.drain(deadline);
    if (!finished) this.abandoned("handlers", draining, { inHandler: this.pipeline.size });
    // Forwards sent outside the pipeline (refused bodies) settle before the source closes.
    const sending = Date.now();
    if (this.policy && !(await this.policy.drain(deadline)))
      this.abandoned("dead-letter publishes", sending, {});
    return finished;
  }

  /** One handler call on `bulk`: bounded by the route's `timeout`, measured and traced when instrumented. */
  callHandler(bulk: D[]): Promise<unknown> {
    const { timeout } = this.route;
    const handler = this.handler;
    if (this.instrumentation === noInstrumentation)
      return Promise.resolve(callHandler(handler, bulk, timeout));
    return this.instrumentation.runHandler(this.handlerCall(bulk), async () =>
      callHandler(handler, bulk, timeout),
    );
  }

  private handlerCall(bulk: readonly D[]): HandlerCall {
    return {
      transport: this.transport,
      route: this.route.name,
      size: bulk.length,
      carriers: () => bulk.map((delivery) => delivery.headers),
    };
  }

  /**
   * A route without a policy, called the runner's way: the handler, then every delivery settled by
   * its decision or the outcome, then `done`. The per-delivery hot path with `bulkSize` 1: one
   * reaction on the handler's promise, no async frames between it and the settlement.
   */
  private plainCall(bulk: D[], done: () => void): void {
    let calling: Promise<unknown>;
    try {
      calling = this.callHandler(bulk);
    } catch (error) {
      // A handler that throws before returning a promise fails like one that rejects.
      calling = Promise.reject(error);
    }
    calling.then(
      () => this.settleThen(bulk, done, false, undefined),
      (error: unknown) => this.failed(bulk, done, error),
    );
  }

  /** Settles a bulk as handled or failed, then frees its slot in the pipeline (even if settling threw). */
  private settleThen(bulk: D[], done: () => void, failed: boolean, error: unknown): void {
    try {
      this.settlePlain(bulk, failed, error);
    } finally {
      done();
    }
  }

  /** The call failed: settled as failed, or first re-run the transport's way (`afterFailure`). */
  private failed(bulk: D[], done: () => void, error: unknown): void {
    const afterFailure = this.afterFailure;
    if (afterFailure === undefined) {
      this.settleThen(bulk, done, true, error);
      return;
    }
    let rerunning: Promise<void>;
    try {
      rerunning = afterFailure(bulk, error);
    } catch (rerunError) {
      rerunning = Promise.reject(rerunError);
    }
    rerunning.then(
      () => this.settleThen(bulk, done, false, undefined),
      (finalError: unknown) => this.settleThen(bulk, done, true, finalError),
    );
  }

  /** A route without a policy, through the transport's `call`: as `plainCall`, one level more. */
  private plainProcess(call: (bulk: D[]) => Promise<unknown>): (bulk: D[]) => Promise<void> {
    return async (bulk) => {
      let error: unknown;
      let failed = false;
      try {
        await call(bulk);
      } catch (caught) {
        failed = true;
        error = caught;
      }
      this.settlePlain(bulk, failed, error);
    };
  }

  /**
   * Settles a bulk of a route without a policy: by the handler's decisions, else `onSuccess`, or
   * after a failed call `onException` (an UnrecoverableError is rejected: with no dead-letter queue
   * it must never come back).
   */
  private settlePlain(bulk: D[], failed: boolean, error: unknown): void {
    let fallback = this.route.onSuccess;
    if (failed) {
      fallback = error instanceof UnrecoverableError ? Actions.REJECT : this.route.onException;
      if (this.logFailures) this.tellFailure(error, bulk, fallback);
    }
    this.acknowledger.settle(bulk, fallback);
    if (this.instrumentation !== noInstrumentation) this.countOutcomes(bulk, fallback);
  }

  /** A route with a policy: schema and once first, retries and dead letters after. */
  private policyProcess(call: (bulk: D[]) => Promise<unknown>): (bulk: D[]) => Promise<void> {
    const policy = this.policy!;
    const run = async (ready: D[]): Promise<HandlerOutcome> => {
      try {
        await call(ready);
        return { failed: false, error: undefined };
      } catch (error) {
        if (this.logFailures) this.tellFailure(error, ready, undefined);
        return { failed: true, error };
      }
    };
    return async (bulk) => {
      try {
        await policy.process(bulk, run);
      } catch (error) {
        // The pipeline's process must never reject. A bug in the policy must not lose deliveries
        // either: whatever is not settled yet goes back to the source.
        this.logger.error({ err: error, count: bulk.length }, "settling a bulk failed; requeueing it");
        const unsettled = bulk.filter((delivery) => !delivery.isSettled());
        if (unsettled.length > 0) this.acknowledger.settle(unsettled, Actions.REQUEUE);
      }
    };
  }

  private tellFailure(error: unknown, bulk: readonly D[], action: Action | undefined): void {
    const sources = [...new Set(bulk.map((delivery) => delivery.source))];
    this.logger.error(
      { err: error, sources, count: bulk.length, action: action ?? this.policyAction(error) },
      "handler failed",
    );
  }

  /** What a policy route does with a failed bulk, for the log line. */
  private policyAction(error: unknown): string {
    if (error instanceof UnrecoverableError) return "dead-letter";
    return this.policy?.retries ? "retry" : this.route.onException;
  }

  /** Off the hot path: only when instrumentation is on. */
  private countOutcomes(bulk: readonly D[], fallback: Action): void {
    let ack = 0;
    let reject = 0;
    let requeue = 0;
    for (const delivery of bulk) {
      const action = delivery.decision ?? fallback;
      if (action === Actions.ACK) ack++;
      else if (action === Actions.REJECT) reject++;
      else requeue++;
    }
    const { instrumentation, transport } = this;
    const route = this.route.name;
    if (ack > 0) instrumentation.settled(transport, route, "ack", ack);
    if (reject > 0) instrumentation.settled(transport, route, "reject", reject);
    if (requeue > 0) instrumentation.settled(transport, route, "requeue", requeue);
  }
}

/**
 * A process that returns a promise, as the pipeline takes it: `done` once it settled. It must not
 * reject; if it does anyway, the slot is freed and the rejection is left unhandled, as before.
 */
function whenDone<D>(process: (bulk: D[]) => Promise<void>): (bulk: D[], done: () => void) => void {
  return (bulk, done) => {
    void process(bulk).then(done, (error: unknown) => {
      done();
      throw error;
    });
  };
}
