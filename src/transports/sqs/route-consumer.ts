import { decodeBodyResult } from "../../core/codec/body.js";
import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger, Forwarding, ForwardTarget } from "../../core/consume/acknowledger.js";
import { deadLetterReasonOf, type WeirDeadLetterReason } from "../../core/consume/dead-letter-reason.js";
import type { Redirect } from "../../core/consume/delivery.js";
import { onceOption } from "../../core/consume/once/options.js";
import { DeliveryPolicy } from "../../core/consume/policy.js";
import { RouteRunner } from "../../core/consume/route-runner.js";
import type { Deadline } from "../../core/deadline.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import { schemaOption } from "../../core/schema.js";
import type { RouteHealth, RouteRecord } from "../../core/transport.js";
import { SQSQueueNotFoundError } from "./errors.js";
import { SQS_ATTRIBUTES, SQSMessage } from "./message.js";
import { isFifo, isQueueMissing, queueNameOf, type SQSPort, type SQSReceived } from "./port.js";
import type { SQSHandler, SQSRoute, SQSRouteSpec } from "./route-spec.js";

/** SQS's longest visibility timeout (12 h), s. */
const MAX_VISIBILITY_S = 43_200;
/** SQS keeps at most 10 message attributes. */
const MAX_ATTRIBUTES = 10;

interface SQSTarget extends ForwardTarget {
  /** Retry: the visibility timeout to set, s. */
  readonly seconds: number;
  /** Why, in words (`x-weir-error`): the error's code and message. */
  readonly reason: string;
  /** Dead letter: why, as a category (`x-weir-reason`), the same words as on every transport. */
  readonly category?: WeirDeadLetterReason;
}

/** One queue of a route as it is consumed. */
interface QueueState {
  readonly name: string;
  url: string;
  dlqUrl: string | undefined;
  connected: boolean;
  lastError: string | undefined;
  received: number;
}

/**
 * One SQS route: long-polling receives of up to 10 messages, as many side by side as it takes to
 * fill `min(bulkSize, prefetch)`, never more than `prefetch` messages held; core's RouteRunner
 * makes the bulks and applies the policy; settlements go back as batched deletes (ack, reject) and
 * visibility changes (requeue: 0; retry: the backoff). A timer extends the visibility of what is
 * still held before it lapses, so a long handler does not see its message received twice.
 */
export class SQSRouteConsumer {
  readonly runner: RouteRunner<SQSMessage>;
  private readonly policy: DeliveryPolicy<SQSMessage> | undefined;
  private readonly forwarding:
    | (Forwarding<SQSMessage, SQSTarget> & { retried: number; deadLettered: number })
    | undefined;
  private readonly queues: QueueState[];
  /** Received and not settled yet. */
  private readonly live = new Set<SQSMessage>();
  /** Deletes and visibility changes under way: the stop waits for them. */
  private readonly requests = new Set<Promise<unknown>>();
  private port: SQSPort | undefined;
  private abort = new AbortController();
  private pollers: Promise<void>[] = [];
  private reserved = 0;
  private roomWaiters: Array<() => void> = [];
  private visibilityMs = 30_000;
  private extender: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  /** Visibility extensions sent so far. */
  private extended = 0;
  /**
   * FIFO order with `concurrency` > 1: the groups with a message in the runner, and what waits
   * behind it (received, held, not handed over yet). Undefined at concurrency 1, where bulks run
   * one after the other and SQS's own order is kept as it is.
   */
  private readonly groups: Map<string, SQSMessage[]> | undefined;

  constructor(
    readonly route: SQSRoute,
    record: RouteRecord,
    instrumentation: Instrumentation,
    private readonly logger: Logger,
  ) {
    const spec = record.spec as SQSRouteSpec;
    this.queues = route.queues.map((name) => ({
      name: queueNameOf(name),
      url: name,
      dlqUrl: undefined,
      connected: false,
      lastError: undefined,
      received: 0,
    }));
    this.groups = route.concurrency > 1 ? new Map() : undefined;
    const acknowledger = this.acknowledger();
    this.forwarding =
      route.retry !== undefined || route.deadLetter !== undefined ? this.makeForwarding() : undefined;
    const settings = {
      route: route.name,
      transport: "sqs",
      onSuccess: route.onSuccess,
      onException: route.onException,
      retry: route.retry === undefined ? undefined : { maxAttempts: route.retry.maxAttempts },
      once: onceOption<SQSMessage>(spec.once),
      schema: schemaOption("schema", spec.schema),
      forwarding: this.forwarding,
    };
    this.policy = DeliveryPolicy.needed(settings)
      ? new DeliveryPolicy<SQSMessage>(settings, acknowledger, instrumentation, logger)
      : undefined;
    this.runner = new RouteRunner<SQSMessage>({
      route: {
        name: route.name,
        bulkSize: route.bulkSize,
        flushInterval: route.flushInterval,
        concurrency: route.concurrency,
        timeout: route.timeout,
        onSuccess: route.onSuccess,
        onException: route.onException,
        handler: record.handler as SQSHandler<unknown>,
      },
      transport: "sqs",
      acknowledger,
      policy: this.policy,
      instrumentation,
      logger,
    });
  }

  /** Resolves the queues (and dead-letter queues), then starts receiving. */
  async start(port: SQSPort): Promise<void> {
    this.port = port;
    for (const queue of this.queues) {
      queue.url = await this.resolve(port, queue.url);
      queue.connected = true;
    }
    if (this.route.visibilitySeconds !== undefined) this.visibilityMs = this.route.visibilitySeconds * 1000;
    else {
      const attributes = await port.attributes(this.queues[0]!.url, ["VisibilityTimeout"]);
      this.visibilityMs = Number(attributes.VisibilityTimeout ?? "30") * 1000;
    }
    await this.policy?.attach();
    this.started = true;
    const perQueue = Math.max(1, Math.ceil(Math.min(this.route.bulkSize, this.route.prefetch) / 10));
    for (const queue of this.queues) {
      for (let i = 0; i < perQueue; i++) this.pollers.push(this.poll(queue));
    }
    const tick = Math.max(250, Math.min(5_000, Math.floor(this.visibilityMs / 4)));
    this.extender = setInterval(() => this.extend(), tick);
    this.extender.unref();
  }

  /**
   * The URL of a route's queue. A missing one fails the start, unless the route has `declare`:
   * then it is created (looked up first, so an existing queue is never changed, and a queue that
   * exists with other attributes is no error, as `CreateQueue` would make it).
   */
  private async resolve(port: SQSPort, given: string): Promise<string> {
    try {
      return await port.queueUrl(given);
    } catch (error) {
      if (!isQueueMissing(error)) throw error;
      if (this.route.declare === undefined) throw new SQSQueueNotFoundError(given, { cause: error });
    }
    const fifo = isFifo(given);
    try {
      const url = await port.createQueue(given, {
        ...(fifo ? { FifoQueue: "true" } : {}),
        ...this.route.declare,
      });
      this.logger.info({ queue: given, fifo }, "SQS queue created (declare)");
      return url;
    } catch (error) {
      // Another worker created it meanwhile, with other attributes: it exists, use it as it is.
      // (SQS names the error `QueueNameExists`, `AWS.SimpleQueueService.QueueNameExists` in its query-compatible form.)
      const name = (error as { name?: unknown } | undefined)?.name;
      if (typeof name !== "string" || !/(^|\.)(QueueNameExists|QueueAlreadyExists)$/.test(name)) throw error;
      return port.queueUrl(given);
    }
  }

  /** Stops receiving, drains within the deadline, waits for the settlements sent. */
  async stop(deadline: Deadline): Promise<void> {
    await this.runner.stop(deadline, {
      stopIntake: async () => {
        this.stopped = true;
        this.abort.abort();
        for (const wake of this.roomWaiters.splice(0)) wake();
        await deadline.race(Promise.allSettled(this.pollers));
        // FIFO messages waiting behind their group never reach the runner now: back to SQS.
        const waiting = [...(this.groups?.values() ?? [])].flat();
        this.groups?.clear();
        if (waiting.length > 0) this.settleAll(waiting, Actions.REQUEUE, true);
      },
    });
    if (this.extender !== undefined) clearInterval(this.extender);
    if (this.requests.size > 0) await deadline.race(Promise.allSettled([...this.requests]));
    this.started = false;
  }

  health(): RouteHealth {
    const ready = this.started && !this.stopped && this.queues.every((queue) => queue.connected);
    return {
      name: this.route.name,
      ready,
      inFlight: this.live.size,
      visibilityExtensions: this.extended,
      queues: this.queues.map((queue) => ({
        queue: queue.name,
        connected: queue.connected,
        received: queue.received,
        ...(queue.lastError === undefined ? {} : { lastError: queue.lastError }),
      })),
      ...this.runner.stats(),
    };
  }

  // ------------------------------------------------------------------ intake

  private async poll(queue: QueueState): Promise<void> {
    const port = this.port!;
    let failures = 0;
    while (!this.stopped) {
      const room = this.route.prefetch - this.live.size - this.reserved;
      if (room <= 0) {
        await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
        continue;
      }
      const max = Math.min(10, room);
      this.reserved += max;
      let received: SQSReceived[];
      try {
        received = await port.receive(queue.url, {
          max,
          waitSeconds: this.route.waitSeconds,
          visibilitySeconds: this.route.visibilitySeconds,
          signal: this.abort.signal,
        });
      } catch (error) {
        this.reserved -= max;
        if (this.stopped) return;
        failures++;
        queue.connected = false;
        queue.lastError = error instanceof Error ? error.message : String(error);
        if (failures === 1 || failures % 20 === 0) {
          this.logger.warn(
            { err: error, queue: queue.name, failures },
            "SQS receive failed; retrying with backoff",
          );
        }
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delay));
        continue;
      }
      this.reserved -= max;
      if (failures > 0) this.logger.info({ queue: queue.name, failures }, "SQS receive works again");
      failures = 0;
      queue.connected = true;
      queue.lastError = undefined;
      queue.received += received.length;
      const visibleAt = Date.now() + this.visibilityMs;
      for (const message of received) this.accept(queue, message, visibleAt);
    }
  }

  private accept(queue: QueueState, received: SQSReceived, visibleAt: number): void {
    const contentType = received.attributes[SQS_ATTRIBUTES.contentType] ?? "application/json";
    const decoded = decodeBodyResult(Buffer.from(received.body), contentType, undefined);
    const message = new SQSMessage(
      queue.name,
      queue.url,
      received,
      decoded.ok ? decoded.value : undefined,
      visibleAt,
      this.logger,
    );
    this.live.add(message);
    if (decoded.ok) {
      this.handOver(message);
      return;
    }
    if (this.policy !== undefined) {
      this.policy.refuse(message, decoded.error);
      return;
    }
    this.logger.warn(
      { ...message.logFields(), code: decoded.error.code, reason: decoded.error.message },
      "message deleted: its body cannot be decoded and the route has no dead-letter queue",
    );
    message.decision = Actions.REJECT;
    this.settleAll([message], Actions.REJECT);
  }

  /** To the runner, unless an earlier message of its FIFO group is still there (then after it). */
  private handOver(message: SQSMessage): void {
    const group = message.groupId;
    if (this.groups === undefined || group === undefined) {
      this.runner.push(message);
      return;
    }
    const waiting = this.groups.get(group);
    if (waiting !== undefined) {
      waiting.push(message);
      return;
    }
    this.groups.set(group, []);
    this.runner.push(message);
  }

  private released(messages: readonly SQSMessage[]): void {
    for (const message of messages) {
      if (!this.live.delete(message)) continue;
      const group = message.groupId;
      const waiting = group === undefined ? undefined : this.groups?.get(group);
      if (waiting === undefined) continue;
      const next = waiting.shift();
      if (next === undefined) this.groups?.delete(group!);
      else if (this.stopped) queueMicrotask(() => this.settleAll([next], Actions.REQUEUE, true));
      else this.runner.push(next);
    }
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  // ------------------------------------------------------------------ settlement

  private acknowledger(): Acknowledger<SQSMessage> {
    return {
      settle: (messages, fallback) => this.settleAll(messages, fallback),
      abandon: (messages) => this.settleAll(messages, Actions.REQUEUE, true),
      settleable: () => true,
    };
  }

  private settleAll(messages: readonly SQSMessage[], fallback: Action, abandoned = false): void {
    const deletes = new Map<string, string[]>();
    const requeues = new Map<string, Array<{ receipt: string; seconds: number }>>();
    for (const message of messages) {
      // Abandoned (the stop deadline passed before the handler): back to the queue, whatever was decided.
      const decided = message.settle(fallback);
      const action = abandoned ? Actions.REQUEUE : decided;
      if (action === Actions.REQUEUE) {
        const list = requeues.get(message.queueUrl) ?? [];
        list.push({ receipt: message.receiptHandle, seconds: 0 });
        requeues.set(message.queueUrl, list);
      } else {
        const list = deletes.get(message.queueUrl) ?? [];
        list.push(message.receiptHandle);
        deletes.set(message.queueUrl, list);
      }
    }
    this.released(messages);
    const port = this.port;
    if (port === undefined) return;
    for (const [url, receipts] of deletes) {
      this.track(
        port.delete(url, receipts).then((failed) => {
          if (failed.length > 0)
            this.logger.warn(
              { queue: queueNameOf(url), failed: failed.length },
              "SQS did not delete some messages; they will come back",
            );
        }),
        "delete",
        url,
      );
    }
    for (const [url, entries] of requeues) this.track(port.changeVisibility(url, entries), "requeue", url);
  }

  private track(request: Promise<unknown>, what: string, url: string): Promise<void> {
    const tracked = request.then(
      () => undefined,
      (error: unknown) => {
        // At least once: a lost delete or visibility change lets the message come back after its timeout.
        this.logger.warn(
          { err: error, queue: queueNameOf(url), what },
          `SQS ${what} failed; the message comes back after its visibility timeout`,
        );
      },
    );
    this.requests.add(tracked);
    void tracked.finally(() => this.requests.delete(tracked));
    return tracked;
  }

  /** "Still working": what is held past half its visibility gets a full visibility timeout again. */
  private extend(): void {
    const port = this.port;
    if (port === undefined || this.live.size === 0) return;
    const now = Date.now();
    const byQueue = new Map<string, SQSMessage[]>();
    for (const message of this.live) {
      if (message.visibleAt - now > this.visibilityMs / 2) continue;
      const list = byQueue.get(message.queueUrl) ?? [];
      list.push(message);
      byQueue.set(message.queueUrl, list);
    }
    const seconds = Math.ceil(this.visibilityMs / 1000);
    for (const [url, messages] of byQueue) {
      const pending = messages.filter((message) => !message.isSettled());
      if (pending.length === 0) continue;
      for (const message of pending) message.visibleAt = now + this.visibilityMs;
      this.extended += pending.length;
      this.track(
        port.changeVisibility(
          url,
          pending.map((message) => ({ receipt: message.receiptHandle, seconds })),
        ),
        "visibility extension",
        url,
      );
    }
  }

  // ------------------------------------------------------------------ retries and dead letters

  private makeForwarding(): Forwarding<SQSMessage, SQSTarget> & { retried: number; deadLettered: number } {
    const route = this.route;
    const forwarding = {
      retried: 0,
      deadLettered: 0,
      target: (message: SQSMessage, redirect: Redirect): SQSTarget | undefined => {
        const reason = redirect.error instanceof Error ? redirect.error.message : "failed";
        const code = (redirect.error as { code?: unknown } | undefined)?.code;
        const why = typeof code === "string" ? `${code}: ${reason}` : reason;
        if (
          redirect.kind === "retry" &&
          route.retry !== undefined &&
          message.attempt < route.retry.maxAttempts
        ) {
          const ms = redirect.delay ?? route.retry.backoff.get(message.attempt);
          return { kind: "retry", seconds: Math.min(MAX_VISIBILITY_S, Math.ceil(ms / 1000)), reason: why };
        }
        if (route.deadLetter === undefined) {
          this.logger.warn(
            { ...message.logFields(), reason: why },
            "message deleted: the route has no dead-letter queue",
          );
          return undefined;
        }
        // A retryable failure past its attempts is `max-attempts`, as on AMQP, Redis and NATS.
        const category =
          redirect.kind === "retry" && route.retry !== undefined
            ? "max-attempts"
            : deadLetterReasonOf(redirect.error);
        return { kind: "dead-letter", seconds: 0, reason: why, category };
      },
      forward: async (message: SQSMessage, target: SQSTarget): Promise<void> => {
        const port = this.port!;
        try {
          if (target.kind === "retry") {
            this.released([message]);
            message.settle(Actions.ACK);
            await port.changeVisibility(message.queueUrl, [
              { receipt: message.receiptHandle, seconds: target.seconds },
            ]);
            forwarding.retried++;
            return;
          }
          const queue = this.queues.find((q) => q.url === message.queueUrl);
          const dlq = queue?.dlqUrl;
          if (dlq === undefined) throw new Error(`no dead-letter queue for ${message.queue}`);
          const attributes: Record<string, string> = {
            [SQS_ATTRIBUTES.reason]: target.category ?? "unrecoverable",
            [SQS_ATTRIBUTES.error]: target.reason.slice(0, 1024),
            [SQS_ATTRIBUTES.attempts]: String(message.attempt),
            [SQS_ATTRIBUTES.originalQueue]: message.queue,
          };
          for (const [key, value] of Object.entries(message.attributes)) {
            if (Object.keys(attributes).length >= MAX_ATTRIBUTES) break;
            attributes[key] ??= value;
          }
          await port.send(dlq, message.rawBody, {
            attributes,
            ...(isFifo(dlq)
              ? { groupId: message.groupId ?? "weir-dlq", deduplicationId: message.sqsMessageId }
              : {}),
          });
          const failed = await port.delete(message.queueUrl, [message.receiptHandle]);
          if (failed.length > 0) throw new Error("the original could not be deleted");
          message.settle(Actions.ACK);
          this.released([message]);
          forwarding.deadLettered++;
          // As every transport does: a dead letter (a schema refusal never reached the handler) is seen in the logs.
          this.logger.warn(
            {
              ...message.logFields(),
              deadLetterQueue: queueNameOf(dlq),
              reason: target.category,
              attempts: message.attempt,
              error: target.reason,
            },
            "message dead-lettered",
          );
        } catch (error) {
          // Never lost: the original stays on its queue and comes back after its visibility timeout.
          message.settle(Actions.REQUEUE);
          this.released([message]);
          this.logger.error(
            { err: error, ...message.logFields(), kind: target.kind },
            "SQS forward failed; the message comes back",
          );
        }
      },
      attach: async (): Promise<void> => {
        const port = this.port!;
        if (route.deadLetter === undefined) return;
        for (const queue of this.queues) {
          const dlq = route.deadLetter(queue.name);
          queue.dlqUrl =
            dlq.startsWith("http://") || dlq.startsWith("https://")
              ? dlq
              : await port.createQueue(dlq, isFifo(dlq) ? { FifoQueue: "true" } : undefined);
        }
      },
    };
    return forwarding;
  }
}
