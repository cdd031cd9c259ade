import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { Deadline } from "../../core/deadline.js";
import { withTimeout } from "../../core/deadline.js";
import type { Logger } from "../../core/logger.js";
import {
  NATSConnectError,
  NATSNoStreamError,
  NATSPublishError,
  NATSPublishTimeoutError,
  NATSStreamCreateError,
} from "./errors.js";
import { type ResolvedNATSOptions, redactServer } from "./options.js";
import type {
  ConsumeEvents,
  ConsumerCounts,
  ConsumerSettings,
  Consumption,
  NATSPort,
  PublishAck,
  StoredMessage,
} from "./port.js";
import { LoggedMessage, SettleLog } from "./settle-log.js";

/** ms a pull request lives (the client renews it); also its retry period after a reconnect. */
const PULL_EXPIRES = 5_000;

/** The libraries, imported on the first connect: `import "weir"` loads neither. */
async function libraries() {
  const [transport, jetstream] = await Promise.all([
    import("@nats-io/transport-node"),
    import("@nats-io/jetstream"),
  ]);
  return { transport, jetstream };
}
type Libraries = Awaited<ReturnType<typeof libraries>>;

/** True when `error` or one along its `cause` chain is named `name`. */
function caused(error: unknown, names: readonly string[]): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (names.includes(e.name) || names.includes(e.constructor.name)) return true;
  }
  return false;
}

/**
 * The NATS port on the official client (`@nats-io/transport-node`, `@nats-io/jetstream`): one
 * connection per app for its routes and its publishes (JetStream acks are publishes too, so a
 * separate publishing connection would buy nothing), reconnecting forever once up.
 */
export class NatsJsPort implements NATSPort {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private lib: Libraries | undefined;
  private connecting: Promise<void> | undefined;
  private up = false;
  private downSince = 0;
  private readonly settled = new SettleLog();
  /** The consumers being pulled, to wait for after a reconnect before answering again. */
  private readonly pulled = new Map<string, { stream: string; durable: string }>();
  reconnects = 0;

  constructor(
    private readonly options: ResolvedNATSOptions,
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  get server(): string | null {
    return this.up && this.nc !== undefined ? redactServer(this.nc.getServer()) : null;
  }

  connect(): Promise<void> {
    this.connecting ??= this.open().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    const lib = await libraries();
    const { servers } = this.options;
    let nc: NatsConnection;
    try {
      nc = await lib.transport.connect({
        servers: [...servers],
        name: this.name,
        timeout: this.options.connectTimeout,
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.options.reconnectWait,
      });
    } catch (error) {
      throw new NATSConnectError(servers.map(redactServer), { cause: error });
    }
    this.lib = lib;
    this.nc = nc;
    this.js = lib.jetstream.jetstream(nc, { timeout: this.options.timeout });
    this.jsm = await lib.jetstream.jetstreamManager(nc, { timeout: this.options.timeout, checkAPI: false });
    this.up = true;
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        this.up = false;
        this.downSince = Date.now();
        this.logger.warn(
          { server: redactServer(String(status.server)) },
          "NATS connection lost; reconnecting",
        );
      } else if (status.type === "reconnect") {
        this.up = true;
        this.reconnects++;
        this.logger.info({ server: redactServer(String(status.server)) }, "NATS connection back");
        void this.answerAgain(this.downSince);
      } else if (status.type === "close") {
        this.up = false;
      }
    }
  }

  /**
   * After a reconnect: once JetStream knows the consumers again (a restarted server recovers them
   * after it accepts connections), the acks and terms of the last second before the disconnect and
   * of the outage are sent again (settle-log.ts says why).
   */
  private async answerAgain(downSince: number): Promise<void> {
    const end = Date.now() + 30_000;
    for (const { stream, durable } of this.pulled.values()) {
      while (this.up && Date.now() < end) {
        try {
          await this.manager.consumers.info(stream, durable);
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
    if (!this.up) return;
    const nc = this.nc;
    if (nc === undefined) return;
    const count = this.settled.resend(downSince - 1_000, (subject, data) => nc.publish(subject, data));
    if (count > 0) this.logger.info({ count }, "acks of the outage sent again");
  }

  private get manager(): JetStreamManager {
    if (this.jsm === undefined) throw new Error("NATS is not connected");
    return this.jsm;
  }

  async streamExists(stream: string): Promise<boolean> {
    return (await this.streamSubjects(stream)) !== undefined;
  }

  async ensureStream(stream: string, subjects: readonly string[]): Promise<void> {
    const existing = await this.streamSubjects(stream);
    if (existing !== undefined) {
      this.warnOtherSubjects(stream, existing, subjects);
      return;
    }
    try {
      await this.manager.streams.add({ name: stream, subjects: [...subjects] });
    } catch (error) {
      // Another worker created it in between: used as it is, as any existing stream.
      const made = await this.streamSubjects(stream);
      if (made === undefined) throw new NATSStreamCreateError(stream, subjects, { cause: error });
      this.warnOtherSubjects(stream, made, subjects);
    }
  }

  /** The subjects `stream` captures; undefined when it does not exist. */
  private async streamSubjects(stream: string): Promise<readonly string[] | undefined> {
    try {
      return (await this.manager.streams.info(stream)).config.subjects ?? [];
    } catch (error) {
      if (caused(error, ["StreamNotFoundError"])) return undefined;
      throw error;
    }
  }

  /**
   * An existing stream is used as it is; one that does not capture the subjects the route declares
   * it with (another app or worker declared it otherwise, or it was made by hand) would leave the
   * route's publishes without a stream, so it is said, as for a consumer with another filter.
   */
  private warnOtherSubjects(stream: string, existing: readonly string[], wanted: readonly string[]): void {
    const missing = wanted.filter((subject) => !existing.includes(subject));
    if (missing.length === 0) return;
    this.logger.warn(
      { stream, subjects: existing, wanted },
      "the stream exists without some of the subjects this route declares it with; using it as it is (nats stream edit, or the same subjects in every app)",
    );
  }

  async ensureConsumer(stream: string, settings: ConsumerSettings): Promise<void> {
    const { jetstream } = this.lib!;
    try {
      const { config } = await this.manager.consumers.info(stream, settings.durable);
      // Used as it is: a filter other than the route's would read other messages (or none).
      if ((config.filter_subject || undefined) !== settings.filterSubject) {
        this.logger.warn(
          {
            stream,
            consumer: settings.durable,
            filter: config.filter_subject ?? null,
            wanted: settings.filterSubject ?? null,
          },
          "the durable consumer exists with another filter subject; using it as it is (nats consumer edit, or another consumer name)",
        );
      }
      return;
    } catch (error) {
      if (!caused(error, ["ConsumerNotFoundError"])) throw error;
    }
    await this.manager.consumers.add(stream, {
      durable_name: settings.durable,
      ack_policy: jetstream.AckPolicy.Explicit,
      deliver_policy: jetstream.DeliverPolicy.All,
      ack_wait: settings.ackWait * 1_000_000,
      max_ack_pending: settings.maxAckPending,
      max_deliver: settings.maxDeliver,
      ...(settings.filterSubject === undefined ? {} : { filter_subject: settings.filterSubject }),
    });
  }

  async consumerCounts(stream: string, durable: string): Promise<ConsumerCounts> {
    const info = await this.manager.consumers.info(stream, durable);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  async consume(stream: string, durable: string, batch: number, events: ConsumeEvents): Promise<Consumption> {
    const js = this.js!;
    const consumer = await js.consumers.get(stream, durable);
    const messages = await consumer.consume({
      max_messages: batch,
      // Each pull expires after this (and is renewed); after a reconnect the client re-checks the
      // consumer and pulls again, retrying every `expires` while JetStream is still recovering:
      // the client's 30 s default made a route resume ~30 s after a server restart.
      expires: PULL_EXPIRES,
      callback: (message: JsMsg) => events.onMessage(new LoggedMessage(message, this.settled)),
    });
    this.pulled.set(`${stream}\u0000${durable}`, { stream, durable });
    void (async () => {
      for await (const status of messages.status()) {
        if (status.type === "consumer_deleted" || status.type === "consumer_not_found") events.onMissing();
      }
    })().catch(() => {});
    return {
      close: async () => {
        this.pulled.delete(`${stream}\u0000${durable}`);
        await messages.close();
      },
    };
  }

  async publish(
    subject: string,
    data: Uint8Array,
    options: { headers?: Readonly<Record<string, string>>; msgID?: string; timeout?: number } = {},
  ): Promise<PublishAck> {
    await this.connect();
    const timeout = options.timeout ?? this.options.timeout;
    let headers: MsgHdrs | undefined;
    if (options.headers !== undefined) {
      headers = this.lib!.transport.headers();
      for (const [key, value] of Object.entries(options.headers)) headers.set(key, value);
    }
    try {
      const ack = await this.js!.publish(subject, data, {
        timeout,
        ...(headers === undefined ? {} : { headers }),
        ...(options.msgID === undefined ? {} : { msgID: options.msgID }),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      if (caused(error, ["NoRespondersError", "JetStreamNotEnabled"]))
        throw new NATSNoStreamError(subject, { cause: error });
      if (caused(error, ["TimeoutError"]))
        throw new NATSPublishTimeoutError(subject, timeout, { cause: error });
      throw new NATSPublishError(subject, { cause: error });
    }
  }

  async readMessages(stream: string, limit: number): Promise<StoredMessage[]> {
    await this.connect();
    let first: number;
    let last: number;
    try {
      const info = await this.manager.streams.info(stream);
      if (info.state.messages === 0) return [];
      first = info.state.first_seq;
      last = info.state.last_seq;
    } catch (error) {
      if (caused(error, ["StreamNotFoundError"])) return [];
      throw error;
    }
    const out: StoredMessage[] = [];
    for (let seq = first; seq <= last && out.length < limit; seq++) {
      // A deleted sequence (a replayed dead letter) is a gap: skipped.
      const stored = await this.manager.streams.getMessage(stream, { seq }).catch(() => null);
      if (stored === null) continue;
      const headers: Record<string, string> = {};
      for (const key of stored.header?.keys() ?? []) headers[key] = stored.header.get(key);
      out.push({ seq: stored.seq, subject: stored.subject, data: stored.data, headers });
    }
    return out;
  }

  async deleteMessage(stream: string, seq: number): Promise<void> {
    await this.connect();
    await this.manager.streams.deleteMessage(stream, seq, false);
  }

  async purgeStream(stream: string, subject: string): Promise<number> {
    await this.connect();
    try {
      return (await this.manager.streams.purge(stream, { filter: subject })).purged;
    } catch (error) {
      if (caused(error, ["StreamNotFoundError"])) return 0;
      throw error;
    }
  }

  async close(deadline: Deadline): Promise<void> {
    const nc = this.nc;
    if (nc === undefined) return;
    this.nc = undefined;
    this.connecting = undefined;
    // Acks are publishes: flush them before the socket goes (amqplib's lesson: close after the last ack).
    try {
      if (this.up) await withTimeout(nc.flush(), deadline.remaining(), () => new Error("flush timed out"));
    } catch {
      // The server is away: what is unacked comes back to another consumer.
    }
    this.up = false;
    await deadline.race(nc.close());
  }
}
