import { decodeBody, decodeBodyResult, UNDECODABLE } from "../../core/codec/body.js";
import { Actions } from "../../core/constants.js";
import { DeliveryPolicy } from "../../core/consume/policy.js";
import { RouteRunner } from "../../core/consume/route-runner.js";
import type { Deadline } from "../../core/deadline.js";
import { WeirError } from "../../core/errors.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import type { RouteHealth } from "../../core/transport.js";
import { type NATSAcknowledger, natsAcknowledger, settleMessage } from "./acknowledger.js";
import { turnNow } from "./end-of-turn.js";
import { NATSConsumerError, NATSStreamNotFoundError } from "./errors.js";
import { NATSForwarding } from "./forwarding.js";
import { NATSMessage } from "./message.js";
import type { Consumption, JetStreamMessage, NATSPort } from "./port.js";
import { declaredSubjectsOf, type NATSRoute } from "./route-spec.js";

const UTF8 = new TextDecoder();

/**
 * The body of a JetStream message through core's one decoder: JSON when it has no `Content-Type`
 * header (what most NATS publishers send) or a JSON type, the bytes (a Buffer) for another type;
 * `Content-Encoding` (gzip, deflate, br) undone first. An empty body is `undefined`. Returns
 * `UNDECODABLE` when it cannot be decoded (`decodeNATSBodyResult` then says why): no allocation
 * beyond the parse on the hot path.
 */
export function decodeNATSBody(message: JetStreamMessage): unknown {
  const data = message.data;
  if (data.byteLength === 0) return undefined;
  const headers = message.headers;
  if (headers === undefined) {
    // The hot path, as a raw client parses: the client's bytes (a view of its read buffer) decoded
    // straight, without a Buffer made over them first (0.4-0.6 µs a message less). TextDecoder drops
    // a UTF-8 byte-order mark as the full decoder does; what does not parse goes through it below.
    try {
      return JSON.parse(UTF8.decode(data));
    } catch {
      // decodeBody says what it is (another text, or UNDECODABLE).
    }
  }
  const content = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (headers === undefined) return decodeBody(content, undefined, undefined);
  return decodeBody(
    content,
    headers.get("Content-Type") || undefined,
    headers.get("Content-Encoding") || undefined,
  );
}

/** Why `decodeNATSBody` returned `UNDECODABLE`. */
function whyUndecodable(message: JetStreamMessage): unknown {
  const data = message.data;
  const content = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const headers = message.headers;
  const result = decodeBodyResult(
    content,
    headers?.get("Content-Type") || undefined,
    headers?.get("Content-Encoding") || undefined,
  );
  return result.ok ? new Error("the body could not be decoded") : result.error;
}

/**
 * The messages a route holds (handed to its runner, not settled yet): each gets `working()` every
 * beat. A slab with a free list, the slot kept on the message: adding and removing one is two
 * array writes (a Set hashed every message in and out, 50-60 ns a message on the hot path).
 */
class HeldMessages {
  private slots: (NATSMessage | undefined)[] = [];
  private free: number[] = [];

  add(message: NATSMessage): void {
    const slot = this.free.pop() ?? this.slots.length;
    this.slots[slot] = message;
    message.heldAt = slot;
  }

  delete(message: NATSMessage): void {
    const slot = message.heldAt;
    if (slot < 0 || this.slots[slot] !== message) return;
    this.slots[slot] = undefined;
    message.heldAt = -1;
    this.free.push(slot);
  }

  forEach(visit: (message: NATSMessage) => void): void {
    for (const message of this.slots) if (message !== undefined) visit(message);
  }

  clear(): void {
    for (const message of this.slots) if (message !== undefined) message.heldAt = -1;
    this.slots = [];
    this.free = [];
  }
}

/**
 * One NATS route: a durable pull consumer per stream feeding one RouteRunner, and the "still
 * working" beat that keeps JetStream from redelivering what weir holds (a partial bulk waiting for
 * its flush, a bulk in a slow handler) before the route settles it.
 */
export class NATSRouteConsumer {
  readonly runner: RouteRunner<NATSMessage>;
  private readonly policy: DeliveryPolicy<NATSMessage> | undefined;
  private readonly acknowledger: NATSAcknowledger;
  private readonly consumptions: Consumption[] = [];
  /** Messages handed to the runner and not known settled yet: each gets `working()` every beat. */
  private readonly held = new HeldMessages();
  private beat: NodeJS.Timeout | undefined;
  private stopping = false;
  private consuming = false;
  private recreating = false;
  private lastDelivery: number | undefined;
  private received = 0;
  readonly logger: Logger;

  constructor(
    readonly route: NATSRoute,
    private readonly port: () => NATSPort,
    logger: Logger,
    instrumentation: Instrumentation,
  ) {
    this.logger = logger.child({ route: route.name });
    // Settled messages leave the "still working" set at once: kept until the next beat, they (and
    // their bodies) would outlive the young generation at high rates.
    const released = (message: NATSMessage): void => {
      this.held.delete(message);
    };
    // Answers wait while more bulks of the same read are queued to run: sent with theirs.
    const acknowledger = natsAcknowledger(released, () => this.runner.queuedBulks > 0);
    this.acknowledger = acknowledger;
    const forwarding =
      route.retry !== undefined || route.deadLetter !== undefined
        ? new NATSForwarding(route.streams, route.retry, route.deadLetter, port, this.logger, released)
        : undefined;
    const settings = {
      route: route.name,
      transport: "nats",
      onSuccess: route.onSuccess,
      onException: route.onException,
      retry: route.retry === undefined ? undefined : { maxAttempts: route.retry.maxAttempts },
      once: route.once,
      schema: route.schema,
      forwarding,
    };
    this.policy = DeliveryPolicy.needed(settings)
      ? new DeliveryPolicy<NATSMessage>(settings, acknowledger, instrumentation, this.logger)
      : undefined;
    this.runner = new RouteRunner<NATSMessage>({
      route: {
        name: route.name,
        bulkSize: route.bulkSize,
        flushInterval: route.flushInterval,
        concurrency: route.concurrency,
        timeout: route.timeout,
        onSuccess: route.onSuccess,
        onException: route.onException,
        handler: route.handler,
      },
      transport: "nats",
      acknowledger,
      policy: this.policy,
      instrumentation,
      logger: this.logger,
    });
  }

  /** Streams and consumers made sure of, dead-letter streams created, then pulling. */
  async start(): Promise<void> {
    const port = this.port();
    for (const stream of this.route.streams) await this.prepare(port, stream);
    try {
      await this.policy?.attach();
    } catch (error) {
      throw new NATSConsumerError(this.route.streams.join(","), this.route.consumer, { cause: error });
    }
    for (const stream of this.route.streams) {
      const consumption = await port.consume(stream, this.route.consumer, this.route.prefetch, {
        onMessage: (message) => this.receive(stream, message),
        onMissing: () => void this.recreate(stream),
      });
      this.consumptions.push(consumption);
    }
    this.consuming = true;
    const every = Math.max(250, Math.floor(this.route.ackWait / 3));
    this.beat = setInterval(() => this.stillWorking(), every);
    this.beat.unref();
  }

  private async prepare(port: NATSPort, stream: string): Promise<void> {
    const { route } = this;
    try {
      const subjects = declaredSubjectsOf(route, stream);
      if (subjects !== undefined) await port.ensureStream(stream, subjects);
      else if (!(await port.streamExists(stream))) throw new NATSStreamNotFoundError(stream);
      await port.ensureConsumer(stream, {
        durable: route.consumer,
        filterSubject: route.subject,
        ackWait: route.ackWait,
        maxAckPending: route.prefetch,
        maxDeliver: route.maxDeliver,
      });
    } catch (error) {
      if (error instanceof WeirError) throw error;
      throw new NATSConsumerError(stream, route.consumer, { cause: error });
    }
  }

  /** The consumer was deleted on the server (or the server lost it): created again, once at a time. */
  private async recreate(stream: string): Promise<void> {
    if (this.recreating || this.stopping) return;
    this.recreating = true;
    try {
      this.logger.warn(
        { stream, consumer: this.route.consumer },
        "JetStream consumer missing; creating it again",
      );
      await this.prepare(this.port(), stream);
    } catch (error) {
      this.logger.error(
        { err: error, stream },
        "could not create the JetStream consumer again; retrying on the next notice",
      );
    } finally {
      this.recreating = false;
    }
  }

  /** The hot path: one message from the pull, decoded and pushed. */
  private receive(stream: string, raw: JetStreamMessage): void {
    if (this.stopping) {
      // Arrived after the intake stopped: straight back to the stream, for the next worker.
      raw.nak();
      return;
    }
    this.received++;
    this.lastDelivery = turnNow();
    const body = decodeNATSBody(raw);
    if (body === UNDECODABLE) {
      const message = new NATSMessage<unknown>(raw, stream, undefined, this.logger);
      const refusal = whyUndecodable(raw);
      if (this.policy !== undefined) {
        this.policy.refuse(message, refusal);
        return;
      }
      this.logger.warn(
        { ...message.logFields(), reason: (refusal as Error).message },
        "message terminated (term): its body cannot be decoded and the route has no dead-letter stream",
      );
      settleMessage(message, message.settle(Actions.REJECT));
      return;
    }
    const message = new NATSMessage<unknown>(raw, stream, body, this.logger);
    this.held.add(message);
    this.runner.push(message);
  }

  private stillWorking(): void {
    this.held.forEach((message) => {
      if (message.isSettled()) this.held.delete(message);
      else message.message.working();
    });
  }

  async stop(deadline: Deadline): Promise<void> {
    await this.runner.stop(deadline, {
      stopIntake: async () => {
        this.stopping = true;
        this.consuming = false;
        await deadline.race(Promise.all(this.consumptions.splice(0).map((c) => c.close())));
      },
    });
    // The last answers go to the client before the transport flushes and closes the connection.
    this.acknowledger.flush();
    clearInterval(this.beat);
    this.beat = undefined;
    this.held.clear();
  }

  health(connected: boolean): RouteHealth {
    return {
      name: this.route.name,
      ready: this.consuming && connected,
      streams: this.route.streams,
      consumer: this.route.consumer,
      consuming: this.consuming,
      received: this.received,
      lastDelivery: this.lastDelivery === undefined ? null : new Date(this.lastDelivery).toISOString(),
      inFlight: this.runner.size,
      ...this.runner.stats(),
    };
  }
}
