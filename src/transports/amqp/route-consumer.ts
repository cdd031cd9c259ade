import { decodeBody, decodeBodyResult, UNDECODABLE } from "../../core/codec/body.js";
import { InvalidBodyError } from "../../core/codec/errors.js";
import type { DeliveryPolicy } from "../../core/consume/policy.js";
import { RouteRunner } from "../../core/consume/route-runner.js";
import type { Deadline } from "../../core/deadline.js";
import { StartError } from "../../core/errors.js";
import { failureFields, type Logger } from "../../core/logger.js";
import { fullJitterDelay, Sleeper } from "../../core/sleeper.js";
import type { RouteHealth } from "../../core/transport.js";
import { amqpAcknowledger } from "./acknowledger.js";
import { ChannelSession } from "./channel-session.js";
import type { VhostConnection } from "./connection.js";
import {
  attachError,
  ConsumeClosedConnectionError,
  StreamQueueError,
  TopologyError,
  type TopologyObject,
} from "./consume-errors.js";
import { ConsumerTimeoutError, isConsumerTimeout } from "./consumer-timeout.js";
import { AMQPMessage } from "./message.js";
import type { ResolvedAMQPOptions } from "./options.js";
import type { AMQPChannel, AMQPConnection, ConsumeMessage, Options } from "./port.js";
import { STREAM_OFFSET_HEADER } from "./qos.js";
import { countingQueues } from "./queue-type.js";
import type { AMQPHandler, AMQPRoute } from "./route-spec.js";
import { closeDeadline, logAbandoned, stepWithin } from "./stop-steps.js";
import { type OffsetStoreFactory, StreamReader, StreamSession } from "./stream/reader.js";

async function closeQuietly(channel: AMQPChannel): Promise<void> {
  try {
    await channel.close();
  } catch {
    // Already closed by the broker or with its connection: nothing left to release.
  }
}

/** Why `decodeBody` refused a delivery (computed again only on that rare path). */
function whyUndecodable(delivery: ConsumeMessage): InvalidBodyError {
  const { content, properties } = delivery;
  const result = decodeBodyResult(content, properties.contentType, properties.contentEncoding);
  return result.ok
    ? new InvalidBodyError("WEIR_ERR_INVALID_JSON", "the body could not be decoded")
    : result.error;
}

/**
 * Runs one AMQP route: a channel whose QoS bounds the route's unacked messages, a consumer per
 * queue, the bulk pipeline and the handler. It keeps itself attached: after a reconnect, a channel
 * error or a broker-side consumer cancel it re-attaches with backoff, and never sits silently dead.
 */
export class RouteConsumer {
  lastDeliveryAt: number | undefined;
  /** Messages that were received but could not be settled because their channel died. */
  lostOnReconnect = 0;
  /** Times the channel was re-opened after the first attach. */
  reattachments = 0;
  /** Times the broker closed the channel for its consumer timeout. */
  consumerTimeouts = 0;
  /**
   * Waits of `stop()` abandoned at the shutdown deadline: this route's own (attach, cancel,
   * handlers, dead-letter publishes, channel close) and those of its vhost's shared publish and
   * topology channels and connection (counted on every route of the vhost).
   */
  stopAbandoned = 0;
  private lastConsumerTimeout: { at: string; queue: string | null; heldMs: number | null } | null = null;
  private session: ChannelSession | undefined;
  private sessionModel: AMQPConnection | undefined;
  private attaching: Promise<void> | undefined;
  private reattachLoop: Promise<void> | undefined;
  private readonly consumerTags = new Map<string, string>();
  /**
   * The queue names consumed now, in `route.queues` order: the route's own, or for a broadcast
   * route the server-named queue of the current connection.
   */
  private queueNames: readonly string[];
  /** Deliveries since the current channel attached: single active consumer's "active" signal. */
  private deliveriesSinceAttach = 0;
  /** A request reached this route without `reply` and was told (once). */
  private toldUnanswered = false;
  private readonly recovering = new Set<string>();
  private stopping = false;
  private attachedOnce = false;
  /** Set when the route can never consume (a stream queue): it stops and reports not ready. */
  private failure: StreamQueueError | undefined;
  private readonly sleeper = new Sleeper();
  private readonly unsubscribe: Array<() => void> = [];
  /** Bulks, the handler, the policy, settlement and the drain: core's, for every transport. */
  private readonly runner: RouteRunner<AMQPMessage>;
  private readonly logger: Logger;
  /** A stream route's offsets (docs/amqp.md, Streams); undefined on other routes. */
  private readonly stream: StreamReader | undefined;

  constructor(
    readonly route: AMQPRoute,
    private readonly connection: VhostConnection,
    private readonly options: ResolvedAMQPOptions,
    /**
     * Retries, dead letters, once and schema, when the route has any (built by the transport). The
     * processing path is chosen here, once: a route without a policy never pays for one.
     */
    private readonly policy?: DeliveryPolicy<AMQPMessage>,
    offsetStore?: OffsetStoreFactory,
  ) {
    this.logger = options.logger.child({ transport: "amqp", route: route.name });
    this.stream = route.stream && new StreamReader(route.name, route.stream, this.logger, offsetStore);
    this.queueNames = route.queues;
    this.runner = new RouteRunner<AMQPMessage>({
      route,
      transport: "amqp",
      acknowledger: amqpAcknowledger,
      policy,
      instrumentation: options.instrumentation,
      logger: this.logger,
      // The handlers keep running; their messages are settled if their channel is still open by
      // then, else the broker redelivers them. Dead letters of undecodable bodies likewise.
      abandoned: (what, startedAt, fields) => {
        this.stopAbandoned++;
        logAbandoned(this.logger, what, startedAt, fields);
      },
    });
  }

  /** Replaces the handler of every call to come (weir/testing's async-context attribution). */
  wrapHandler(wrap: (handler: AMQPHandler) => AMQPHandler): void {
    this.runner.wrapHandler(wrap as Parameters<RouteRunner<AMQPMessage>["wrapHandler"]>[0]);
  }

  /** Attaches the route; rejects (with a coded StartError) if any queue cannot be consumed. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const model = await this.connection.connect();
      try {
        await this.ensureAttached(model);
        break;
      } catch (error) {
        // The broker closed the shared connection for another route's mistake (its reason names
        // another queue), or for a reason of its own: not this route's failure. Attach again once
        // the connection is back; only the route whose consume it was reports it.
        if (!(error instanceof ConsumeClosedConnectionError) || this.named(error) || attempt >= 3)
          throw error;
        this.logger.warn(failureFields(error), "the connection closed while attaching; attaching again");
      }
    }
    // Subscribed only after the first attach: at start a failure must reject, later it is retried.
    this.unsubscribe.push(
      this.connection.onDown(() => {
        if (this.session) this.retire(this.session);
      }),
      this.connection.onUp((next) => {
        this.ensureAttached(next).catch((error: unknown) => {
          this.logger.warn(failureFields(error), "re-attach after reconnect failed; retrying");
          this.scheduleReattach();
        });
      }),
    );
  }

  /**
   * Stops intake, drains the route within `deadline` (core's runner), then closes the channel by
   * `closeBy` (the deadline plus a short grace, `closeDeadline`). Every wait on the broker is bounded:
   * a step that does not end in time is abandoned, logged with `WEIR_ERR_STOP_ABANDONED` and counted
   * (`stopAbandoned`); an abandoned channel's unsettled messages are counted as dropped (the broker
   * requeues them when the connection goes).
   */
  async stop(deadline: Deadline, closeBy: Deadline = closeDeadline(deadline)): Promise<void> {
    this.stopping = true;
    this.sleeper.cancel();
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    await this.runner.stop(deadline, {
      stopIntake: async (within) => {
        if (this.attaching && !(await stepWithin(within, this.attaching, "consumer attach", this.logger))) {
          this.stopAbandoned++;
        }
        const current = this.session;
        if (current?.alive) {
          const tags = [...this.consumerTags.values()];
          this.consumerTags.clear();
          const cancels = Promise.allSettled(tags.map((tag) => current.channel.cancel(tag)));
          if (!(await stepWithin(within, cancels, "consumer cancel", this.logger))) this.stopAbandoned++;
        }
      },
    });
    // The offset of the last handled bulk, stored before the channel and the connection go.
    if (this.stream && !(await this.stream.flush(closeBy))) this.stopAbandoned++;
    const session = this.session;
    if (session?.alive) {
      // Acks still waiting for their flush go out before the channel: closing it would requeue them.
      session.flushAcks();
      const unsettled = session.unsettled;
      const closing = closeQuietly(session.channel);
      if (!(await stepWithin(closeBy, closing, "consumer channel close", this.logger, { unsettled }))) {
        this.stopAbandoned++;
        // Nothing more may be settled on it; its messages come back when the connection goes.
        const left = session.kill();
        if (left > 0) this.options.instrumentation.settled("amqp", this.route.name, "dropped", left);
      }
    }
  }

  health(): RouteHealth {
    const consuming = [...this.consumerTags.keys()];
    const connected = this.connection.current !== undefined;
    return {
      name: this.route.name,
      ready:
        this.failure === undefined &&
        connected &&
        this.session?.alive === true &&
        consuming.length === this.route.queues.length,
      connected,
      // On a cluster, the node (host:port) the route's connection is on.
      node: this.connection.node ?? null,
      consuming,
      lastDeliveryAt: this.lastDeliveryAt === undefined ? null : new Date(this.lastDeliveryAt).toISOString(),
      reconnects: this.connection.reconnects,
      reattachments: this.reattachments,
      lostOnReconnect: this.lostOnReconnect,
      consumerTimeouts: this.consumerTimeouts,
      stopAbandoned: this.stopAbandoned,
      lastConsumerTimeout: this.lastConsumerTimeout,
      inFlight: this.runner.size,
      unsettled: this.session?.unsettled ?? 0,
      ...this.runner.stats(),
      ...(this.route.broadcast !== undefined && { broadcastQueue: this.queueNames[0] ?? null }),
      // RabbitMQ tells a waiting consumer nothing (basic.consume-ok only): a delivery since the
      // attach is the one sign, from inside the app, that this instance is the active one.
      ...(this.route.consumer.singleActiveConsumer && {
        singleActiveConsumer: {
          active: this.deliveriesSinceAttach > 0,
          deliveriesSinceAttach: this.deliveriesSinceAttach,
        },
      }),
      ...(this.failure !== undefined && {
        error: { code: this.failure.code, message: this.failure.message },
      }),
      ...(this.stream !== undefined && {
        stream: {
          consumer: this.stream.stream.consumer,
          committedOffset: this.stream.committed ?? null,
          commits: this.stream.commits,
          commitFailures: this.stream.commitFailures,
        },
      }),
    };
  }

  private ensureAttached(model: AMQPConnection): Promise<void> {
    if (this.session?.alive && this.sessionModel === model) return Promise.resolve();
    if (this.failure !== undefined) return Promise.resolve();
    this.attaching ??= this.attach(model).finally(() => {
      this.attaching = undefined;
    });
    return this.attaching;
  }

  /** Whether a connection close's reason names one of this route's queues. */
  private named(error: ConsumeClosedConnectionError): boolean {
    const reason = error.message;
    return this.route.queues.some((queue) => reason.includes(`queue '${queue}'`));
  }

  private async attach(model: AMQPConnection): Promise<void> {
    if (this.stopping) return;
    // A connection-level error (5xx) closes every channel of the connection, and amqplib rejects
    // the pending call with a bare "Channel ended": keep the broker's reason for the start error.
    let closedWith: Error | undefined;
    const onConnectionError = (error: Error): void => {
      closedWith = error;
    };
    model.on("error", onConnectionError);
    try {
      await this.attachChannel(model, () => closedWith);
    } finally {
      model.off("error", onConnectionError);
    }
  }

  private async attachChannel(model: AMQPConnection, closedWith: () => Error | undefined): Promise<void> {
    const channel = await model.createChannel();
    const session = this.stream
      ? new StreamSession(channel, this.logger, this.stream, this.options.ackWindow)
      : new ChannelSession(channel, this.logger, countingQueues(this.route), this.options.ackWindow);
    // amqplib 2.x: an 'error' with no listener would kill the process (a 404 closes the channel).
    // An error while attaching (a missing queue: 404) is told by attach's rejection, as the start
    // failure or a failed re-attach; logging it here as well would make two lines of one event.
    channel.on("error", (error: Error) => {
      if (this.session !== session) return;
      if (isConsumerTimeout(error)) this.onConsumerTimeout(session, error);
      else this.logger.warn(failureFields(error), "AMQP channel error");
    });
    channel.on("close", () => this.onChannelClosed(session));
    let queue = this.route.queues[0] ?? "";
    // What is being declared now, for the error that names it if the broker refuses it.
    let declaring: TopologyObject | undefined;
    try {
      for (const exchange of this.route.exchanges) {
        const { name, type, ...options } = exchange;
        declaring = { kind: "exchange", name, declared: { type, ...options } };
        await channel.assertExchange(name, type, options);
      }
      const names: string[] = [];
      if (this.route.broadcast !== undefined) {
        const options = { durable: false, exclusive: true, autoDelete: true };
        declaring = { kind: "queue", name: "(server-named)", declared: options };
        // A new name per connection: the exclusive queue of the last one went with it.
        names.push((await channel.assertQueue("", options)).queue);
      } else {
        for (queue of this.route.queues) {
          const declare = this.route.declare;
          declaring = declare && { kind: "queue", name: queue, declared: declare };
          await this.checkQueue(channel, queue);
          names.push(queue);
        }
      }
      for (const binding of [...this.route.bindings, ...(this.route.broadcast ?? [])]) {
        queue = binding.queue ?? names[0] ?? "";
        const { exchange, routingKey, arguments: args } = binding;
        declaring = {
          kind: "binding",
          name: `${queue} -> ${exchange} (${JSON.stringify(routingKey)})`,
          declared: { exchange, routingKey, arguments: args },
        };
        await channel.bindQueue(queue, exchange, routingKey, args);
      }
      declaring = undefined;
      // Where failures go must exist before the first delivery can fail (and again after a reconnect).
      if (this.policy) await this.policy.attach();
      // Where a stream route starts: after its stored offset, else its configured one.
      const streamOffset = this.stream && (await this.stream.attach(model));
      if (this.stopping) {
        session.kill();
        await closeQuietly(channel);
        return;
      }
      if (this.attachedOnce) this.reattachments++;
      this.attachedOnce = true;
      this.session = session;
      this.sessionModel = model;
      this.queueNames = names;
      this.deliveriesSinceAttach = 0;
      for (const [index, name] of names.entries()) {
        queue = name;
        await this.consume(session, index, streamOffset);
      }
    } catch (error) {
      session.kill();
      await closeQuietly(channel);
      const closed = closedWith();
      if (closed !== undefined)
        throw new ConsumeClosedConnectionError(this.route.name, queue, this.route.vhost, closed);
      throw this.refusal(error, declaring, queue);
    }
    this.logger.info(
      { queues: this.queueNames, prefetch: this.route.prefetch, perQueue: this.route.prefetchShares },
      "consuming",
    );
  }

  /**
   * The start error for a refused attach step: a topology object the broker refused (a declare's
   * 406, a binding's 404) names the object and both argument sets; the rest as before.
   */
  private refusal(error: unknown, declaring: TopologyObject | undefined, queue: string): Error {
    const code = (error as { code?: unknown }).code;
    const fromBroker = typeof code === "number" && !(error instanceof StartError);
    if (declaring !== undefined && fromBroker && (declaring.kind !== "queue" || code === 406)) {
      return new TopologyError(this.route.name, this.route.vhost, declaring, error);
    }
    return attachError(error, queue, this.route.vhost);
  }

  private async checkQueue(channel: AMQPChannel, queue: string): Promise<void> {
    const declare = this.route.declare;
    if (declare) await channel.assertQueue(queue, declare);
    else await channel.checkQueue(queue);
  }

  /**
   * Starts the consumer of `queue` with its share of the route's prefetch (docs/architecture.md):
   * a per-consumer `basic.qos` applies to the consumers started after it on the channel, which
   * every queue type accepts, where a channel-wide one makes quorum and stream queues close the
   * whole connection.
   */
  private async consume(session: ChannelSession, index: number, streamOffset?: unknown): Promise<void> {
    if (this.stopping || !session.alive) return;
    const queue = this.queueNames[index] ?? "";
    await session.channel.prefetch(this.route.prefetchShares[index] ?? this.route.prefetch, false);
    let first = true;
    const { consumerTag } = await session.channel.consume(
      queue,
      (delivery) => {
        if (session instanceof StreamSession) {
          if (delivery !== null && !session.accept(delivery)) return;
        } else if (first && delivery !== null) {
          first = false;
          // A stream is known by its deliveries only (a passive declare does not say the type).
          if (delivery.properties.headers?.[STREAM_OFFSET_HEADER] !== undefined) {
            this.refuseStream(queue, session);
            return;
          }
        }
        this.onDelivery(queue, index, session, delivery);
      },
      this.stream === undefined
        ? this.consumeOptions
        : { ...this.consumeOptions, arguments: { "x-stream-offset": streamOffset ?? "next" } },
    );
    this.consumerTags.set(queue, consumerTag);
  }

  /** `basic.consume`'s options: exclusive, and `x-priority` (amqplib's `priority`). */
  private get consumeOptions(): Options.Consume | undefined {
    const { exclusive, priority } = this.route.consumer;
    if (!exclusive && priority === undefined) return undefined;
    return { ...(exclusive && { exclusive }), ...(priority !== undefined && { priority }) };
  }

  /**
   * The route consumes a stream, which it cannot settle (a reject or a requeue would close the
   * connection every route shares). It stops for good, touching nothing: no settle is sent, the
   * channel is closed (a stream forgets unacked deliveries, nothing is lost), and the route reports
   * not ready with the error. Other routes keep going.
   */
  private refuseStream(queue: string, session: ChannelSession): void {
    if (this.failure !== undefined) return;
    this.failure = new StreamQueueError("", queue);
    this.logger.error(failureFields(this.failure), "route stopped: it consumes a stream queue");
    this.retire(session, false);
    void closeQuietly(session.channel);
  }

  /** The hot path: runs once per delivery, so it allocates only the message it hands over. */
  private onDelivery(
    queue: string,
    index: number,
    session: ChannelSession,
    delivery: ConsumeMessage | null,
  ): void {
    if (delivery === null) {
      this.onConsumerCancelled(queue, session);
      return;
    }
    const now = Date.now();
    session.received(delivery.fields.deliveryTag, now, index);
    this.lastDeliveryAt = now;
    this.deliveriesSinceAttach++;
    const properties = delivery.properties;
    if (properties.replyTo !== undefined && this.route.reply === undefined) this.tellUnanswered(queue);
    const body = decodeBody(delivery.content, properties.contentType, properties.contentEncoding);
    if (body === UNDECODABLE) {
      this.refuseInvalidBody(queue, session, delivery);
      return;
    }
    this.runner.push(new AMQPMessage(delivery, queue, body, session));
  }

  /**
   * A request (a message with `replyTo`) reached a route without `reply`: weir will not answer it,
   * and its caller waits for its timeout. Told once per route: the likely mistake is a forgotten
   * `reply: true` (a handler that publishes its own replies can ignore the line).
   */
  private tellUnanswered(queue: string): void {
    if (this.toldUnanswered) return;
    this.toldUnanswered = true;
    this.logger.warn(
      { queue },
      "a message carries replyTo, but the route has no `reply`: weir will not answer it (set `reply: true` on the route to answer requests)",
    );
  }

  /**
   * A body that can never be decoded (invalid JSON, an unknown charset or content-encoding):
   * requeueing it would loop forever. It goes to the route's dead-letter queue when it has one,
   * else it is rejected without requeue (the queue's DLX, if any, keeps it); either way it is logged
   * and the route keeps consuming.
   */
  private refuseInvalidBody(queue: string, session: ChannelSession, delivery: ConsumeMessage): void {
    const error = whyUndecodable(delivery);
    if (this.policy) {
      this.policy.refuse(new AMQPMessage(delivery, queue, undefined, session), error);
      return;
    }
    session.rejectNow(delivery, false);
    this.options.instrumentation.settled("amqp", this.route.name, "reject", 1);
    this.logger.warn(
      {
        queue,
        deliveryTag: delivery.fields.deliveryTag,
        reason: error.code === "WEIR_ERR_INVALID_JSON" ? "invalid-json" : "undecodable",
        code: error.code,
        error: error.message,
      },
      "message rejected without requeue: its body cannot be decoded",
    );
  }

  /**
   * Retires a channel incarnation: its deliveries can no longer be settled, so they leave the
   * buffer (the broker redelivers them), are counted and logged once. Called when the channel
   * closes and, without waiting for that event, as soon as its connection drops: amqplib may only
   * report the channel closed after the new connection is up, and a stale session must never take
   * part in a bulk with fresh deliveries.
   */
  private retire(session: ChannelSession, redelivered = true): void {
    if (!session.alive) return;
    const unsettled = session.kill();
    const dropped = this.runner.drop((message) => message.session === session);
    if (unsettled > 0 && redelivered) {
      this.lostOnReconnect += unsettled;
      this.options.instrumentation.settled("amqp", this.route.name, "dropped", unsettled);
      this.logger.warn(
        { unsettled, notYetHandled: dropped.length },
        "channel closed with unsettled messages; the broker will redeliver them",
      );
    }
    if (this.session === session) {
      this.session = undefined;
      this.sessionModel = undefined;
      this.consumerTags.clear();
    }
  }

  private onChannelClosed(session: ChannelSession): void {
    const wasCurrent = this.session === session;
    this.retire(session);
    if (wasCurrent && !this.stopping && this.failure === undefined) this.scheduleReattach();
  }

  /**
   * The broker closed the channel: a delivery outlived its `consumer_timeout` (a handler slower than
   * the broker allows, or a message waiting behind one). Told with its own code, the queue and how
   * long that delivery was held, and counted; the channel's close then re-attaches the route, and
   * the broker redelivers the channel's messages (a route with `retry` counts that redelivery as an
   * attempt, so a message that keeps timing out ends in its dead-letter queue).
   */
  private onConsumerTimeout(session: ChannelSession, cause: Error): void {
    const oldest = session.oldestUnsettled();
    const queue = oldest === undefined ? undefined : this.route.queues[oldest.queue];
    const heldMs = oldest === undefined ? undefined : Date.now() - oldest.at;
    const error = new ConsumerTimeoutError(this.route.name, queue, heldMs, cause);
    this.consumerTimeouts++;
    this.lastConsumerTimeout = { at: new Date().toISOString(), queue: queue ?? null, heldMs: heldMs ?? null };
    this.logger.error(
      { queue, heldMs, unsettled: session.unsettled, ...failureFields(error) },
      "the broker's consumer timeout closed the channel; re-attaching (the broker redelivers its messages)",
    );
  }

  /** Re-attaches with backoff while the connection is up; a reconnect re-attaches through onUp. */
  private scheduleReattach(): void {
    if (this.reattachLoop || this.stopping) return;
    this.reattachLoop = (async () => {
      for (let attempt = 1; !this.stopping && this.session === undefined; attempt++) {
        const delay = fullJitterDelay(attempt, this.options.reconnectFloor, this.options.reconnectCeiling);
        if (!(await this.sleeper.sleep(delay))) return;
        const model = this.connection.current;
        if (model === undefined) return;
        try {
          await this.ensureAttached(model);
        } catch (error) {
          this.logger.warn({ attempt, ...failureFields(error) }, "re-attach failed; retrying");
        }
      }
    })().finally(() => {
      this.reattachLoop = undefined;
    });
  }

  /**
   * The broker cancelled one consumer (its queue was deleted, or its node went down). The other
   * queues of the route keep consuming on the same channel; this one is re-consumed with backoff
   * once the queue exists again, checked on a throwaway channel because a failed passive declare
   * closes the channel it runs on.
   */
  private onConsumerCancelled(queue: string, session: ChannelSession): void {
    if (this.stopping || session !== this.session || this.recovering.has(queue)) return;
    this.consumerTags.delete(queue);
    if (this.route.broadcast !== undefined || this.stream !== undefined) {
      // Its server-named queue is gone for good: a new channel declares and binds a new one. A
      // stream consumer starts again after what it handled, which only a new attach computes.
      this.logger.warn({ queue }, "the broker cancelled the consumer; attaching again");
      session.flushAcks();
      void closeQuietly(session.channel);
      return;
    }
    this.recovering.add(queue);
    this.logger.warn({ queue }, "the broker cancelled the consumer; re-consuming once the queue exists");
    void (async () => {
      try {
        for (let attempt = 1; !this.stopping && session.alive; attempt++) {
          const delay = fullJitterDelay(attempt, this.options.reconnectFloor, this.options.reconnectCeiling);
          if (!(await this.sleeper.sleep(delay))) return;
          const model = this.connection.current;
          if (model === undefined || !session.alive) return;
          try {
            const probe = await model.createChannel();
            probe.on("error", () => {});
            await this.checkQueue(probe, queue);
            await closeQuietly(probe);
            await this.consume(session, this.queueNames.indexOf(queue));
            this.logger.info({ queue, attempt }, "consuming again after a broker-side cancel");
            return;
          } catch (error) {
            this.logger.warn({ queue, attempt, ...failureFields(error) }, "queue still unavailable");
          }
        }
      } finally {
        this.recovering.delete(queue);
      }
    })();
  }
}
