import type { InvalidBodyError } from "../../core/codec/errors.js";
import { type Action, Actions } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import { UnrecoverableError } from "../../core/errors.js";
import { noInstrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import { formatIssues, type SchemaResult, type StandardSchemaV1, validateWith } from "../../core/schema.js";
import type { AMQPMessage, MessagePolicy, Redirect } from "./message.js";
import { type OnceAdmission, OnceGate } from "./once/gate.js";
import type { ResolvedAMQPOptions } from "./options.js";
import { SchemaValidationError } from "./retry/errors.js";
import { type Forward, Forwarder, type RawPublish } from "./retry/forwarder.js";
import { attemptsOf } from "./retry/headers.js";
import { Redeliveries, RedeliveryLimitError } from "./retry/redeliveries.js";
import type { Declarer } from "./retry/topology.js";
import type { AMQPRoute } from "./route-spec.js";

/** What a handler call ended with. */
export interface HandlerOutcome {
  readonly failed: boolean;
  readonly error: unknown;
}

/**
 * What a route does beyond ack / reject / requeue: schema validation and once-only dedup before
 * the handler, retries and dead letters after it. A route with none of them has no policy and
 * keeps the plain (cheaper) path; the choice is made once, when the route is built.
 *
 * ```
 * bulk ─► schema ─► once gate ─► handler(ready) ─► settle: plain acks/rejects via ChannelSession,
 *           │ refused     │ duplicate: ack              retry ─► delay queue (confirm, then ack)
 *           ▼             ▼ in flight: wait             dead-letter ─► DLQ (confirm, then ack)
 *        dead-letter
 * ```
 */
export class RoutePolicy {
  private readonly flags: MessagePolicy;
  private readonly forwarder: Forwarder;
  private readonly gate: OnceGate | undefined;
  private readonly schema: StandardSchemaV1 | undefined;
  /** On a route with `retry`: redeliveries count as attempts (a consumer-timeout loop ends). */
  private readonly redeliveries: Redeliveries | undefined;
  /** Dead letters of undecodable bodies, sent outside the pipeline: `drain` waits for them. */
  private readonly pending = new Set<Promise<void>>();

  /** True when `route` needs a policy at all. */
  static needed(route: AMQPRoute): boolean {
    return (
      route.retry !== undefined ||
      route.deadLetter !== undefined ||
      route.once !== undefined ||
      route.schema !== undefined
    );
  }

  constructor(
    private readonly route: AMQPRoute,
    publish: RawPublish,
    declarer: Declarer,
    private readonly options: ResolvedAMQPOptions,
    private readonly logger: Logger,
  ) {
    this.flags = Object.freeze({ retries: route.retry !== undefined });
    this.forwarder = new Forwarder(route, publish, declarer, logger);
    this.gate = route.once ? new OnceGate(route.name, route.once, logger) : undefined;
    this.schema = route.schema;
    this.redeliveries = route.retry === undefined ? undefined : new Redeliveries();
  }

  /** Counters for `health()`. */
  stats(): { retried: number; deadLettered: number; duplicates: number } {
    return {
      retried: this.forwarder.retried,
      deadLettered: this.forwarder.deadLettered,
      duplicates: this.gate?.duplicates ?? 0,
    };
  }

  /** Declares the route's dead-letter queues; run at every attach. */
  attach(): Promise<void> {
    return this.forwarder.declareDeadLetterQueues();
  }

  /**
   * A body that cannot be decoded, caught before it reaches a bulk: dead-lettered when the route
   * has a dead-letter queue, else rejected without requeue. Never loops, never throws.
   */
  refuseInvalidBody(message: AMQPMessage, error: InvalidBodyError): void {
    // Logged once, by the forwarder, with where the message went (dead-lettered or rejected).
    const target = this.forwarder.target(message, { kind: "dead-letter", error });
    if (target === undefined) {
      message.settle(Actions.REJECT);
      message.session.send(message, Actions.REJECT);
      this.count("reject", 1);
      return;
    }
    const sending = this.forwarder.forward(message, target).finally(() => this.pending.delete(sending));
    this.pending.add(sending);
    this.count("dead-letter", 1);
  }

  /**
   * Runs one bulk: schema and once gate, the handler on what passed (`run`, never with an empty
   * array), then every message's settlement. Resolves once every message is settled (forwarded
   * ones on their confirm), so a drain waits for them. Never rejects.
   */
  async process(bulk: AMQPMessage[], run: (ready: AMQPMessage[]) => Promise<HandlerOutcome>): Promise<void> {
    for (const message of bulk) message.policy = this.flags;
    let ready = bulk;
    if (this.redeliveries !== undefined) ready = this.countRedeliveries(this.redeliveries, ready);
    if (this.schema !== undefined) ready = await this.validate(this.schema, ready);
    let admission: OnceAdmission | undefined;
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
   * Waits (up to the deadline) for dead letters sent outside the pipeline; false when the deadline
   * passed first (their originals stay unacknowledged, and the broker redelivers them).
   */
  async drain(deadline: Deadline): Promise<boolean> {
    return this.pending.size === 0 || deadline.race(Promise.all(this.pending));
  }

  /**
   * Counts each message's earlier unsettled deliveries; one that has had `retry.maxAttempts`
   * deliveries already (failed ones and unsettled ones together) is dead-lettered without running
   * the handler again: a handler that always outlives the broker's consumer timeout never settles,
   * so only this count can end its loop.
   */
  private countRedeliveries(redeliveries: Redeliveries, messages: AMQPMessage[]): AMQPMessage[] {
    const maxAttempts = this.route.retry?.maxAttempts ?? Number.POSITIVE_INFINITY;
    let ready: AMQPMessage[] | undefined;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      const count = redeliveries.count(message);
      if (count > 0) message.redeliveries = count;
      const attempts = attemptsOf(message.properties.headers) + count;
      if (attempts < maxAttempts) {
        ready?.push(message);
        continue;
      }
      ready ??= messages.slice(0, i);
      message.redirect = { kind: "dead-letter", error: new RedeliveryLimitError(attempts) };
    }
    return ready ?? messages;
  }

  private async validate(schema: StandardSchemaV1, messages: AMQPMessage[]): Promise<AMQPMessage[]> {
    const results = messages.map((message) => validateWith(schema, message.body));
    const ready: AMQPMessage[] = [];
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      const pending = results[i]!;
      const result: SchemaResult<unknown> = pending instanceof Promise ? await pending : pending;
      if (result.ok) {
        // The handler receives the schema's output (defaults and transforms applied).
        (message as { body: unknown }).body = result.value;
        ready.push(message);
        continue;
      }
      const summary = formatIssues(result.issues);
      // Logged once, by the forwarder, with where the message went (dead-lettered or rejected).
      message.redirect = {
        kind: "dead-letter",
        error: new SchemaValidationError(`the body fails the schema: ${summary}`, result.issues),
      };
    }
    return ready;
  }

  /** A message that failed before its handler ran (its once key could not be read). */
  private failBeforeHandler(message: AMQPMessage, error: unknown): void {
    this.logger.error({ err: error, queue: message.queue }, "could not check the message's once key");
    if (this.route.retry !== undefined) message.redirect = { kind: "retry", error };
    else message.decision = this.route.onException;
  }

  /** What the handler's outcome means for a message it did not settle itself. */
  private redirectOf(message: AMQPMessage, outcome: HandlerOutcome): Redirect | undefined {
    if (message.redirect !== undefined) return message.redirect;
    if (message.decision !== undefined || !outcome.failed) return undefined;
    if (outcome.error instanceof UnrecoverableError) return { kind: "dead-letter", error: outcome.error };
    if (this.route.retry !== undefined) return { kind: "retry", error: outcome.error };
    return undefined;
  }

  private async settle(
    bulk: readonly AMQPMessage[],
    admission: OnceAdmission | undefined,
    outcome: HandlerOutcome,
  ): Promise<void> {
    const fallback: Action = outcome.failed ? this.route.onException : this.route.onSuccess;
    const plain: AMQPMessage[] = [];
    const forwards: Array<{ message: AMQPMessage; target: Forward }> = [];
    for (const message of bulk) {
      if (admission?.busy.has(message)) continue;
      const redirect = this.redirectOf(message, outcome);
      const target = redirect === undefined ? undefined : this.forwarder.target(message, redirect);
      if (target !== undefined) {
        forwards.push({ message, target });
        continue;
      }
      // Nowhere to forward it (no dead-letter queue): a dead letter is rejected without requeue.
      if (redirect !== undefined) message.decision = Actions.REJECT;
      plain.push(message);
    }
    if (admission !== undefined && admission.claimed.size > 0 && this.gate !== undefined) {
      const forwarded = new Set(forwards.map((forward) => forward.message));
      // Recorded before the acks: a crash after an ack must not let a redelivery run twice.
      await this.gate.finish(
        admission.claimed,
        (message) => !forwarded.has(message) && (message.decision ?? fallback) === Actions.ACK,
      );
    }
    const sending = forwards.map(({ message, target }) => this.forwarder.forward(message, target));
    if (plain.length > 0) plain[0]!.session.settle(plain, fallback);
    // A message whose channel died (a late handler after a consumer timeout) comes back: its
    // count must survive, or a message that always times out would start again at 0.
    const counted = this.redeliveries;
    if (counted !== undefined) {
      for (const message of plain) {
        const left = (message.decision ?? fallback) !== Actions.REQUEUE;
        if (left && message.session.alive) counted.settled(message);
      }
    }
    this.countOutcomes(plain, fallback, forwards);
    await Promise.all(sending);
    if (counted !== undefined) {
      for (const { message } of forwards) if (message.session.alive) counted.settled(message);
    }
    if (admission !== undefined && admission.busy.size > 0) await this.settleBusy(admission.busy);
  }

  /** Duplicates that were in flight elsewhere: acked if that delivery succeeded, else requeued. */
  private async settleBusy(busy: ReadonlyMap<AMQPMessage, Promise<unknown>>): Promise<void> {
    const messages = [...busy.keys()];
    const states = await Promise.all(busy.values());
    messages.forEach((message, i) => {
      const done = states[i] === "done";
      if (done && this.gate) this.gate.duplicates++;
      message.decision = done ? Actions.ACK : Actions.REQUEUE;
    });
    messages[0]!.session.settle(messages, Actions.REQUEUE);
    this.countOutcomes(messages, Actions.REQUEUE, []);
  }

  /** Off the hot path: only when instrumentation is on. */
  private countOutcomes(
    plain: readonly AMQPMessage[],
    fallback: Action,
    forwards: ReadonlyArray<{ target: Forward }>,
  ): void {
    if (this.options.instrumentation === noInstrumentation) return;
    let ack = 0;
    let reject = 0;
    let requeue = 0;
    for (const message of plain) {
      const action = message.decision ?? fallback;
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

  private count(outcome: "ack" | "reject" | "requeue" | "retry" | "dead-letter", n: number): void {
    if (n > 0) this.options.instrumentation.settled("amqp", this.route.name, outcome, n);
  }
}
