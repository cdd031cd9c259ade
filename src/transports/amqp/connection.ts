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

/**
 * One connection of an app to one vhost: the routes' (role `consume`, shared by every route on the
 * vhost), or the publisher's (role `publish`: `app.amqp.publish`, tasks, retries and dead letters).
 * It owns recovery: when the connection drops it reconnects with exponential backoff and full
 * jitter, and tells its listeners, which reopen their channels and consumers. amqplib 2.x has a
 * recovery mode of its own; weir keeps the loop here because stop() must be able to cancel it at
 * any point, and every attempt must reach `onConnectionError` and the logs.
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
  private readonly user: string;
  private readonly sleeper = new Sleeper();
  private readonly up = new Set<UpListener>();
  private readonly down = new Set<DownListener>();
  private readonly flow = new Set<FlowListener>();
  private blockedState: BlockedState | undefined;
  private readonly logger: Logger;
  private readonly safeUrl: string;
  private readonly connectUrl: string;

  constructor(
    readonly vhost: string,
    url: string,
    private readonly options: ResolvedAMQPOptions,
    readonly role: ConnectionRole = "consume",
  ) {
    this.safeUrl = redactUrl(url);
    const withHeartbeat = new URL(url);
    withHeartbeat.searchParams.set("heartbeat", String(options.heartbeat));
    this.connectUrl = withHeartbeat.toString();
    this.user = urlUser(url);
    this.logger = options.logger.child({
      transport: "amqp",
      vhost,
      ...(role === "publish" && { connection: role }),
    });
  }

  /** The broker's connection name: `weir:<app>:<vhost>`, with `:publish` for the publisher's. */
  get name(): string {
    const name = `weir:${this.options.appName}:${this.vhost}`;
    return this.role === "publish" ? `${name}:publish` : name;
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
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw this.closedError();
      try {
        // amqplibConnect imports amqplib at the first connection, not with weir (issue #16).
        const connect = this.options.connect ?? amqplibConnect;
        const model = await connect(this.connectUrl, {
          clientProperties: { connection_name: this.name },
        });
        if (this.closed) {
          await model.close().catch(() => {});
          throw this.closedError();
        }
        this.attach(model, attempt);
        return model;
      } catch (error) {
        if (this.closed) throw this.closedError();
        const refusal = accessRefusal(error, this.user, this.vhost);
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
            { url: this.safeUrl, attempt, ...failureFields(refusal) },
            "AMQP connection refused; retrying with backoff",
          );
        } else {
          this.logger.warn(
            { url: this.safeUrl, attempt, ...failureFields(cause) },
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
        await this.sleeper.sleep(
          fullJitterDelay(attempt, this.options.reconnectFloor, this.options.reconnectCeiling),
        );
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

  private attach(model: AMQPConnection, attempts: number): void {
    this.model = model;
    this.established = true;
    this.refusal = undefined;
    this.logger.info({ url: this.safeUrl, attempts }, "AMQP connected");
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
    this.logger.warn({ url: this.safeUrl, ...why }, "AMQP connection lost; reconnecting");
    for (const listener of this.down) listener(error);
    this.reconnect().catch((failure: unknown) => {
      if (!this.closed) this.logger.error(failureFields(failure), "AMQP reconnect gave up");
    });
  }
}
