import { type Action, Actions } from "../constants.js";
import type { Deadline } from "../deadline.js";
import { UnrecoverableError } from "../errors.js";
import { type Instrumentation, noInstrumentation, type SettleOutcome } from "../instrumentation.js";
import type { Logger } from "../logger.js";
import { formatIssues, type SchemaResult, type StandardSchemaV1, validateWith } from "../schema.js";
import type { Acknowledger, Forwarding, ForwardTarget } from "./acknowledger.js";
import type { Delivery, DeliveryPolicyFlags, Redirect } from "./delivery.js";
import { SchemaValidationError } from "./errors.js";
import { type OnceAdmission, OnceGate } from "./once/gate.js";
import type { ResolvedOnce } from "./once/options.js";
import { Redeliveries, RedeliveryLimitError } from "./redeliveries.js";

/** What a handler call ended with. */
export interface HandlerOutcome {
  readonly failed: boolean;
  readonly error: unknown;
}

/** A route's policy settings, checked and with defaults applied by its transport. */
export interface PolicySettings<D extends Delivery> {
  readonly route: string;
  /** The transport's type, for metrics. */
  readonly transport: string;
  readonly onSuccess: Action;
  readonly onException: Action;
  /** Retries through `forwarding` (a delay queue) up to `maxAttempts` in all; undefined: none. */
  readonly retry: { readonly maxAttempts: number } | undefined;
  readonly once: ResolvedOnce<D> | undefined;
  readonly schema: StandardSchemaV1 | undefined;
  /**
   * Where retries and dead letters go; undefined: nowhere (a dead letter is rejected, and told here).
   * A forwarding tells each delivery it forwards or, finding no target, rejects.
   */
  readonly forwarding: Forwarding<D> | undefined;
}

/**
 * What a route does beyond settling by outcome, the same for every transport: schema validation and
 * once-only dedup before the handler, retries and dead letters after it, redeliveries counted as
 * attempts. Composable: each step exists only when the route asks for it, and a route that asks for
 * none has no policy at all and keeps the runner's plain, cheaper path (the choice is made once,
 * when the route is built).
 *
 * ```
 * bulk ─► schema ─► once gate ─► handler(ready) ─► settle: the acknowledger (ack / reject / requeue)
 *           │ refused     │ duplicate: ack              retry ─► forwarding (delay queue: confirm, then ack)
 *           ▼             ▼ in flight: wait             dead-letter ─► forwarding (DLQ: confirm, then ack)
 *        dead-letter
 * ```
 */
export class DeliveryPolicy<D extends Delivery> {
  private readonly flags: DeliveryPolicyFlags;
  private readonly gate: OnceGate<D> | undefined;
  /** On a route with `retry`: redeliveries count as attempts (a consumer-timeout loop ends). */
  private readonly redeliveries: Redeliveries<D> | undefined;
  /** Forwards sent outside the pipeline (refused bodies): `drain` waits for them. */
  private readonly pending = new Set<Promise<void>>();

  /** True when a route with these settings needs a policy at all. */
  static needed(settings: {
    readonly retry: unknown;
    readonly once: unknown;
    readonly schema: unknown;
    readonly forwarding: unknown;
  }): boolean {
    return (
      settings.retry !== undefined ||
      settings.forwarding !== undefined ||
      settings.once !== undefined ||
      settings.schema !== undefined
    );
  }

  constructor(
    private readonly settings: PolicySettings<D>,
    private readonly acknowledger: Acknowledger<D>,
    private readonly instrumentation: Instrumentation,
    private readonly logger: Logger,
  ) {
    this.flags = Object.freeze({ retries: settings.retry !== undefined });
    this.gate = settings.once ? new OnceGate<D>(settings.route, settings.once, logger) : undefined;
    this.redeliveries = settings.retry === undefined ? undefined : new Redeliveries<D>();
  }

  /** Whether a failed delivery is retried (the route has `retry`). */
  get retries(): boolean {
    return this.settings.retry !== undefined;
  }

  /** Counters for `health()`. */
  stats(): { retried: number; deadLettered: number; duplicates: number } {
    return {
      retried: this.settings.forwarding?.retried ?? 0,
      deadLettered: this.settings.forwarding?.deadLettered ?? 0,
      duplicates: this.gate?.duplicates ?? 0,
    };
  }

  /** Declares what failures need (dead-letter queues); run at every attach. */
  attach(): Promise<void> {
    return this.settings.forwarding?.attach() ?? Promise.resolve();
  }

  /**
   * A delivery refused before it could join a bulk (a body that cannot be decoded): dead-lettered
   * when the route has a dead-letter queue, else rejected without requeue. Never loops, never throws.
   */
  refuse(delivery: D, error: unknown): void {
    delivery.policy = this.flags;
    const redirect: Redirect = { kind: "dead-letter", error };
    const target = this.settings.forwarding?.target(delivery, redirect);
    if (target === undefined) {
      delivery.decision = Actions.REJECT;
      if (this.settings.forwarding === undefined) this.tellRejected(delivery, redirect);
      this.acknowledger.settle([delivery], Actions.REJECT);
      this.count("reject", 1);
      return;
    }
    const sending = this.forward(delivery, target).finally(() => this.pending.delete(sending));
    this.pending.add(sending);
    this.count("dead-letter", 1);
  }

  /**
   * Runs one bulk: redelivery count, schema and once gate, the handler on what passed (`run`, never
   * with an empty array), then every delivery's settlement. Resolves once every delivery is
   * settled (forwarded ones on their confirm), so a drain waits for them. Never rejects.
   */
  async process(bulk: D[], run: (ready: D[]) => Promise<HandlerOutcome>): Promise<void> {
    for (const delivery of bulk) delivery.policy = this.flags;
    let ready = bulk;
    if (this.redeliveries !== undefined) ready = this.countRedeliveries(this.redeliveries, ready);
    if (this.settings.schema !== undefined) ready = await this.validate(this.settings.schema, ready);
    let admission: OnceAdmission<D> | undefined;
    if (this.gate !== undefined && ready.length > 0) {
      admission = await this.gate.admit(ready);
      for (const { message, error } of admission.failed) this.failBeforeHandler(message, error);
      ready = admission.ready;
    }
    const outcome: HandlerOutcome = ready.length > 0 ? await run(ready) : { failed: false, error: undefined };
    await this.settle(bulk, admission, outcome);
  }

  /** Stops waiting for in-flight duplicates (they are requeued). */
  stop(): void {
    this.gate?.stop();
  }

  /**
   * Waits (up to the deadline) for forwards sent outside the pipeline; false when the deadline
   * passed first (their originals stay unsettled, and the broker redelivers them).
   */
  async drain(deadline: Deadline): Promise<boolean> {
    return this.pending.size === 0 || deadline.race(Promise.all(this.pending));
  }

  /**
   * Counts each delivery's earlier unsettled deliveries; one that has had `retry.maxAttempts`
   * deliveries already (failed ones and unsettled ones together) is dead-lettered without running
   * the handler again: a handler that always outlives the broker's consumer timeout never settles,
   * so only this count can end its loop.
   */
  private countRedeliveries(redeliveries: Redeliveries<D>, deliveries: D[]): D[] {
    const maxAttempts = this.settings.retry?.maxAttempts ?? Number.POSITIVE_INFINITY;
    let ready: D[] | undefined;
    for (let i = 0; i < deliveries.length; i++) {
      const delivery = deliveries[i]!;
      const count = redeliveries.count(delivery, delivery.brokerRedeliveries());
      if (count > 0) delivery.redeliveries = count;
      const attempts = delivery.priorAttempts() + count;
      if (attempts < maxAttempts) {
        ready?.push(delivery);
        continue;
      }
      ready ??= deliveries.slice(0, i);
      delivery.redirect = { kind: "dead-letter", error: new RedeliveryLimitError(attempts) };
    }
    return ready ?? deliveries;
  }

  private async validate(schema: StandardSchemaV1, deliveries: D[]): Promise<D[]> {
    const results = deliveries.map((delivery) => validateWith(schema, delivery.body));
    const ready: D[] = [];
    for (let i = 0; i < deliveries.length; i++) {
      const delivery = deliveries[i]!;
      const pending = results[i]!;
      const result: SchemaResult<unknown> = pending instanceof Promise ? await pending : pending;
      if (result.ok) {
        // The handler receives the schema's output (defaults and transforms applied).
        (delivery as { body: unknown }).body = result.value;
        ready.push(delivery);
        continue;
      }
      delivery.redirect = {
        kind: "dead-letter",
        error: new SchemaValidationError(
          `the body fails the schema: ${formatIssues(result.issues)}`,
          result.issues,
        ),
      };
    }
    return ready;
  }

  /** A delivery that failed before its handler ran (its once key could not be read). */
  private failBeforeHandler(delivery: D, error: unknown): void {
    this.logger.error({ err: error, ...delivery.logFields() }, "could not check the message's once key");
    if (this.settings.retry !== undefined) delivery.redirect = { kind: "retry", error };
    else delivery.decision = this.settings.onException;
  }

  /** What the handler's outcome means for a delivery it did not settle itself. */
  private redirectOf(delivery: D, outcome: HandlerOutcome): Redirect | undefined {
    if (delivery.redirect !== undefined) return delivery.redirect;
    if (delivery.decision !== undefined || !outcome.failed) return undefined;
    if (outcome.error instanceof UnrecoverableError) return { kind: "dead-letter", error: outcome.error };
    if (this.settings.retry !== undefined) return { kind: "retry", error: outcome.error };
    return undefined;
  }

  private async settle(
    bulk: readonly D[],
    admission: OnceAdmission<D> | undefined,
    outcome: HandlerOutcome,
  ): Promise<void> {
    const fallback: Action = outcome.failed ? this.settings.onException : this.settings.onSuccess;
    const plain: D[] = [];
    const forwards: Array<{ delivery: D; target: ForwardTarget }> = [];
    const forwarding = this.settings.forwarding;
    for (const delivery of bulk) {
      if (admission?.busy.has(delivery)) continue;
      const redirect = this.redirectOf(delivery, outcome);
      const target = redirect === undefined ? undefined : forwarding?.target(delivery, redirect);
      if (target !== undefined) {
        forwards.push({ delivery, target });
        continue;
      }
      if (redirect !== undefined) {
        // Nowhere to forward it (no dead-letter queue): a dead letter is rejected without requeue.
        delivery.decision = Actions.REJECT;
        // A forwarding that found no target has told it already, with where it went.
        if (forwarding === undefined) this.tellRejected(delivery, redirect);
      }
      plain.push(delivery);
    }
    if (admission !== undefined && admission.claimed.size > 0 && this.gate !== undefined) {
      const forwarded = new Set(forwards.map((forward) => forward.delivery));
      // Recorded before the acks: a crash after an ack must not let a redelivery run twice.
      await this.gate.finish(
        admission.claimed,
        (delivery) => !forwarded.has(delivery) && (delivery.decision ?? fallback) === Actions.ACK,
      );
    }
    const sending = forwards.map(({ delivery, target }) => this.forward(delivery, target));
    if (plain.length > 0) this.acknowledger.settle(plain, fallback);
    // A delivery whose channel died (a late handler after a consumer timeout) comes back: its count
    // must survive, or a message that always times out would start again at 0.
    const counted = this.redeliveries;
    if (counted !== undefined) {
      for (const delivery of plain) {
        const left = (delivery.decision ?? fallback) !== Actions.REQUEUE;
        if (left && this.acknowledger.settleable(delivery)) counted.settled(delivery);
      }
    }
    this.countOutcomes(plain, fallback, forwards);
    await Promise.all(sending);
    if (counted !== undefined) {
      for (const { delivery } of forwards)
        if (this.acknowledger.settleable(delivery)) counted.settled(delivery);
    }
    if (admission !== undefined && admission.busy.size > 0) await this.settleBusy(admission.busy);
  }

  private forward(delivery: D, target: ForwardTarget): Promise<void> {
    return this.settings.forwarding!.forward(delivery, target);
  }

  /** A dead letter with nowhere to go, told once with its reason (its code and message). */
  private tellRejected(delivery: D, redirect: Redirect): void {
    const error = redirect.error as { code?: unknown; message?: unknown } | undefined;
    this.logger.warn(
      { ...delivery.logFields(), code: error?.code, reason: error?.message },
      "message rejected without requeue: the route has no dead-letter queue",
    );
  }

  /** Duplicates that were in flight elsewhere: acked if that delivery succeeded, else requeued. */
  private async settleBusy(busy: ReadonlyMap<D, Promise<unknown>>): Promise<void> {
    const deliveries = [...busy.keys()];
    const states = await Promise.all(busy.values());
    deliveries.forEach((delivery, i) => {
      const done = states[i] === "done";
      if (done && this.gate) this.gate.duplicates++;
      delivery.decision = done ? Actions.ACK : Actions.REQUEUE;
    });
    this.acknowledger.settle(deliveries, Actions.REQUEUE);
    this.countOutcomes(deliveries, Actions.REQUEUE, []);
  }

  /** Off the hot path: only when instrumentation is on. */
  private countOutcomes(
    plain: readonly D[],
    fallback: Action,
    forwards: ReadonlyArray<{ target: ForwardTarget }>,
  ): void {
    if (this.instrumentation === noInstrumentation) return;
    let ack = 0;
    let reject = 0;
    let requeue = 0;
    for (const delivery of plain) {
      const action = delivery.decision ?? fallback;
      if (action === Actions.ACK) ack++;
      else if (action === Actions.REJECT) reject++;
      else requeue++;
    }
    const retries = forwards.filter((forward) => forward.target.kind === "retry").length;
    this.count("ack", ack);
    this.count("reject", reject);
    this.count("requeue", requeue);
    this.count("retry", retries);
    this.count("dead-letter", forwards.length - retries);
  }

  private count(outcome: SettleOutcome, n: number): void {
    if (n > 0) this.instrumentation.settled(this.settings.transport, this.settings.route, outcome, n);
  }
}
