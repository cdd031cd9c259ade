import type { Deadline } from "../../core/deadline.js";
import { ConnectionError } from "../../core/errors.js";
import { refuseWhenInspecting } from "../../core/inspect.js";
import { failureFields, type Logger, redactUrl } from "../../core/logger.js";
import { fullJitterDelay, Sleeper } from "../../core/sleeper.js";
import { amqplibConnect } from "./amqplib-port.js";
import { installHeaderDecoder } from "./field-table/frames.js";
import type { ResolvedAMQPOptions } from "./options.js";
import type { AMQPConnection } from "./port.js";
import { accessRefusal, urlUser } from "./refusal.js";
import { dropSocket, isBlocked, stepWithin } from "./stop-steps.js";

type UpListener = (model: AMQPConnection) => void;
type DownListener = (error: Error | undefined) => void;
type FlowListener = (blocked: BlockedState | undefined) => void;

/**
 * What a connection is for. RabbitMQ blocks every connection that publishes while a memory or disk
 * alarm is in effect, and stops reading from it: acks and consumer credit on that connection stop
 * too. So consumers and publishers never share one (https://www.rabbitmq.com/docs/alarms).
 */
export type ConnectionRole = "consume" | "publish";

/** The broker blocked the connection (connection.blocked, a RabbitMQ extension to AMQP 0-9-1). */
export interface BlockedState {
  /** The broker's reason, e.g. `low on memory`, `low on disk`. */
  readonly reason: string;
  /** When the broker blocked it (ms epoch). */
  readonly since: number;
}

/** Builds the URL of one vhost from the app's URL (the URL path is the vhost, percent-encoded). */
export function vhostUrl(base: string, vhost: string): string {
  const url = new URL(base);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

/** The vhost named by a URL's path; `/` when the path is empty. */
export function urlVhost(base: string): string {
  const path = new URL(base).pathname;
  return path.length > 1 ? decodeURIComponent(path.slice(1)) : "/";
}

/** One URL of a connection's list, prepared once. */
interface Target {
  /** The URL amqplib connects to (the heartbeat set). */
  readonly connectUrl: string;
  /** For logs and errors: the password redacted. */
  readonly safeUrl: string;
  /** `host:port`, the node's address as health, logs and the connection name show it. */
  readonly node: string;
  /** The user it logs in as (for WEIR_ERR_AUTH's message). */
  readonly user: string;
}

/** `host:port` of a broker URL, the AMQP default port filled in. */
export function urlNode(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === "amqps:" ? "5671" : "5672");
  return `${parsed.hostname}:${port}`;
}

/**
 * One connection of an app to one vhost: the routes' (role `consume`, shared by every route on the
 * vhost), or the publisher's (role `publish`: `app.amqp.publish`, tasks, retries and dead letters).
 * It owns recovery: when the connection drops it reconnects with exponential backoff and full
 * jitter, and tells its listeners, which reopen their channels and consumers. amqplib 2.x has a
 * recovery mode of its own; weir keeps the loop here because stop() must be able to cancel it at
 * any point, and every attempt must reach `onConnectionError` and the logs.
 *
 * With several URLs (the nodes of a cluster) it goes round them: the first attempt on the URL
 * `hostSelection` picks, a failed attempt moves on to the next URL at once, the backoff sleeps only
 * once a whole round failed, and a lost connection reconnects to the node after the one it was on
 * (the node it was on is the likeliest to be down).
 */
export class VhostConnection {
  /** How many times the connection was lost and had to be re-established. */
  reconnects = 0;
  private model: AMQPConnection | undefined;
  private connecting: Promise<AMQPConnection> | undefined;
  private closed = false;
  /** Whether a connection was ever made: a refusal before that is a mistake, after it an incident. */
  private established = false;
  /** The last attempt's refusal (WEIR_ERR_AUTH), while the reconnect loop keeps trying. */
  private refusal: ConnectionError | undefined;
  /** Callers of `connect()` waiting through a reconnect: told at once when an attempt is refused. */
  private readonly refusalWaiters = new Set<(error: ConnectionError) => void>();
  private readonly targets: readonly Target[];
  /** The index in `targets` of the next attempt. */
  private next: number;
  /** The target of the live connection. */
  private target: Target | undefined;
  private readonly sleeper = new Sleeper();
  private readonly up = new Set<UpListener>();
  private readonly down = new Set<DownListener>();
  private readonly flow = new Set<FlowListener>();
  private blockedState: BlockedState | undefined;
  private readonly logger: Logger;
  /** Every URL, redacted: how errors that concern the whole list name it. */
  private readonly safeUrl: string;

  /** `url`: one URL, or a list (a cluster's nodes), each with the vhost as its path already. */
  constructor(
    readonly vhost: string,
    url: string | readonly string[],
    private readonly options: ResolvedAMQPOptions,
    readonly role: ConnectionRole = "consume",
  ) {
    const urls = typeof url === "string" ? [url] : url;
    this.targets = urls.map((each) => {
      const withHeartbeat = new URL(each);
      withHeartbeat.searchParams.set("heartbeat", String(options.heartbeat));
      return {
        connectUrl: withHeartbeat.toString(),
        safeUrl: redactUrl(each),
        node: urlNode(each),
        user: urlUser(each),
      };
    });
    this.safeUrl = this.targets.map((target) => target.safeUrl).join(", ");
    this.next = options.hostSelection === "in-order" ? 0 : Math.floor(Math.random() * this.targets.length);
    this.logger = options.logger.child({
      transport: "amqp",
      vhost,
      ...(role === "publish" && { connection: role }),
    });
  }

  /**
   * The broker's connection name: `weir:<app>:<vhost>`, with `:publish` for the publisher's, and,
   * when the app was given several URLs, `@<host:port>` of the node it is on (or last tried).
   */
  get name(): string {
    return this.nameOn(this.target ?? this.targets[this.next]!);
  }

  private nameOn(target: Target): string {
    const name = `weir:${this.options.appName}:${this.vhost}`;
    const role = this.role === "publish" ? `${name}:publish` : name;
    return this.targets.length > 1 ? `${role}@${target.node}` : role;
  }

  /** `host:port` of the node the live connection is on; undefined while there is none. */
  get node(): string | undefined {
    return this.model === undefined ? undefined : this.target?.node;
  }

  /** Set while the broker blocks this connection (an alarm), else undefined. */
  get blocked(): BlockedState | undefined {
    return this.blockedState;
  }

  /** `fn` runs when the broker blocks the connection and when it unblocks it (with undefined). */
  onFlow(fn: FlowListener): () => void {
    this.flow.add(fn);
    return () => this.flow.delete(fn);
  }

  /** The live connection, if there is one right now. */
  get current(): AMQPConnection | undefined {
    return this.model;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** `fn` runs with every new connection (the first one included). */
  onUp(fn: UpListener): () => void {
    this.up.add(fn);
    return () => this.up.delete(fn);
  }

  /** `fn` runs every time a live connection is lost (not when it is closed by `close()`). */
  onDown(fn: DownListener): () => void {
    this.down.add(fn);
    return () => this.down.delete(fn);
  }

  /**
   * Resolves with a live connection, connecting (with backoff, as long as it takes) if there is
   * none. Rejects once the connection is closed, after `reconnect.maxAttempts` failures, or, with
   * a `ConnectionError` `WEIR_ERR_AUTH`, as soon as the broker refuses the credentials or the vhost:
   * a refusal is not an outage that waiting would end. Before any connection was made, a refusal
   * ends the attempts (each call tries once more); after one, the reconnect loop keeps trying with
   * backoff, and callers meanwhile get the refusal at once. In a process that only reads routes
   * it rejects at once with `WEIR_ERR_INSPECT_ONLY`: a lazy connect from a top-level
   * `app.amqp.publish` or `task.delay` must not reach the broker there.
   */
  connect(): Promise<AMQPConnection> {
    if (this.model) return Promise.resolve(this.model);
    if (this.closed) return Promise.reject(this.closedError());
    try {
      refuseWhenInspecting(`an AMQP connection to ${this.safeUrl}`);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.refusal !== undefined) return Promise.reject(this.refusal);
    const connecting = this.reconnect();
    return new Promise<AMQPConnection>((resolve, reject) => {
      this.refusalWaiters.add(reject);
      connecting.then(resolve, reject).finally(() => this.refusalWaiters.delete(reject));
    });
  }

  /** The one reconnect loop, started if none runs. */
  private reconnect(): Promise<AMQPConnection> {
    this.connecting ??= this.loop().finally(() => {
      this.connecting = undefined;
      // A loop that gave up leaves no refusal behind: the next connect() tries again.
      this.refusal = undefined;
    });
    return this.connecting;
  }

  /**
   * Closes the connection and cancels any reconnect in progress. Channels should be closed first.
   * With a `deadline`, a close the broker has not answered by then is abandoned (logged with
   * `WEIR_ERR_STOP_ABANDONED`) and resolves `false`; the socket of an abandoned or blocked
   * connection is destroyed, so it cannot keep the process alive (stop-steps.ts).
   */
  async close(deadline?: Deadline): Promise<boolean> {
    this.closed = true;
    this.sleeper.cancel();
    const model = this.model;
    this.model = undefined;
    this.blockedState = undefined;
    if (!model) return true;
    const closing = model.close().catch((error: unknown) => {
      this.logger.debug(failureFields(error), "connection already closed");
    });
    let closed = true;
    if (deadline === undefined) await closing;
    else closed = await stepWithin(deadline, closing, "connection close", this.logger);
    if (!closed || isBlocked(model)) dropSocket(model);
    return closed;
  }

  private closedError(): ConnectionError {
    return new ConnectionError("WEIR_ERR_CONNECTION_CLOSED", `connection to ${this.safeUrl} was closed`);
  }

  private async loop(): Promise<AMQPConnection> {
    const count = this.targets.length;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw this.closedError();
      const target = this.targets[this.next]!;
      this.next = (this.next + 1) % count;
      try {
        // amqplibConnect imports amqplib at the first connection, not with weir (issue #16).
        const connect = this.options.connect ?? amqplibConnect;
        const model = await connect(target.connectUrl, {
          clientProperties: { connection_name: this.nameOn(target) },
          noDelay: this.options.noDelay,
        });
        if (this.closed) {
          await model.close().catch(() => {});
          throw this.closedError();
        }
        this.attach(model, attempt, target);
        return model;
      } catch (error) {
        if (this.closed) throw this.closedError();
        const refusal = accessRefusal(error, target.user, this.vhost);
        const cause = refusal ?? (error instanceof Error ? error : new Error(String(error)));
        if (refusal !== undefined && !this.established) {
          // A first connection refused is a mistake in the configuration, not an outage: retrying
          // would only hide it. Whoever asked (start(), a publish) gets it and reports it.
          await this.notifyFailure(refusal, attempt);
          throw refusal;
        }
        if (refusal !== undefined) {
          // It worked before (a password rotated, a permission removed): an incident for a human,
          // so an error, but one the broker's operator may fix, so the loop keeps trying.
          this.refusal = refusal;
          for (const waiter of this.refusalWaiters) waiter(refusal);
          this.logger.error(
            { url: target.safeUrl, node: target.node, attempt, ...failureFields(refusal) },
            "AMQP connection refused; retrying with backoff",
          );
        } else {
          this.logger.warn(
            { url: target.safeUrl, node: target.node, attempt, ...failureFields(cause) },
            "AMQP connection attempt failed",
          );
        }
        await this.notifyFailure(cause, attempt);
        if (attempt >= this.options.maxAttempts) {
          throw new ConnectionError(
            "WEIR_ERR_CONNECTION",
            `could not connect to ${this.safeUrl} after ${attempt} attempts: ${cause.message}`,
            { cause },
          );
        }
        // With several nodes a failed one is skipped at once for the next; the backoff runs once a
        // whole round failed, growing with the rounds (with one URL: after every attempt, as before).
        if (attempt % count === 0) {
          await this.sleeper.sleep(
            fullJitterDelay(attempt / count, this.options.reconnectFloor, this.options.reconnectCeiling),
          );
        }
      }
    }
  }

  private async notifyFailure(error: Error, attempt: number): Promise<void> {
    try {
      await this.options.onConnectionError?.(error, attempt);
    } catch (callbackError) {
      this.logger.error({ err: callbackError }, "onConnectionError callback threw");
    }
  }

  private attach(model: AMQPConnection, attempts: number, target: Target): void {
    this.model = model;
    this.target = target;
    this.established = true;
    this.refusal = undefined;
    this.logger.info({ url: target.safeUrl, node: target.node, attempts }, "AMQP connected");
    // Before any channel exists: every header of every delivery goes through weir's decoder.
    installHeaderDecoder(model, this.logger);
    // Without an 'error' listener an emitted error would crash the process; 'close' follows it.
    model.on("error", (error: Error) => {
      // After close(): the socket of an abandoned close, destroyed on purpose (stop-steps.ts).
      if (this.closed) this.logger.debug(failureFields(error), "AMQP connection error after close");
      else this.logger.warn(failureFields(error), "AMQP connection error");
    });
    model.on("blocked", (reason: string) =>
      this.setBlocked(model, { reason: String(reason), since: Date.now() }),
    );
    model.on("unblocked", () => this.setBlocked(model, undefined));
    model.on("close", (error?: Error) => this.onClose(model, error));
    for (const listener of this.up) listener(model);
  }

  private setBlocked(model: AMQPConnection, state: BlockedState | undefined): void {
    if (this.model !== model) return;
    const was = this.blockedState;
    this.blockedState = state;
    if (state !== undefined) {
      this.logger.warn(
        { code: "WEIR_ERR_PUBLISH_BLOCKED", reason: state.reason },
        "the broker blocked the connection (a resource alarm): publishes wait for it to end",
      );
    } else if (was !== undefined) {
      this.logger.info({ blockedMs: Date.now() - was.since }, "the broker unblocked the connection");
    }
    for (const listener of this.flow) listener(state);
  }

  private onClose(model: AMQPConnection, error: Error | undefined): void {
    if (this.model !== model) return;
    this.model = undefined;
    if (this.blockedState !== undefined) {
      // A new connection starts unblocked; the broker blocks it again if the alarm still holds.
      this.blockedState = undefined;
      for (const listener of this.flow) listener(undefined);
    }
    if (this.closed) return;
    this.reconnects++;
    const why = error === undefined ? {} : failureFields(error);
    const lost = this.target;
    this.logger.warn({ url: lost?.safeUrl, node: lost?.node, ...why }, "AMQP connection lost; reconnecting");
    // The loop already points at the node after the one just lost (the likeliest to be down).
    for (const listener of this.down) listener(error);
    this.reconnect().catch((failure: unknown) => {
      if (!this.closed) this.logger.error(failureFields(failure), "AMQP reconnect gave up");
    });
  }
}
