import { AsyncResource } from "node:async_hooks";
import { ConnectionError, PublishError } from "../../core/errors.js";
import { InspectOnlyError } from "../../core/inspect.js";
import { failureFields, type Logger } from "../../core/logger.js";
import type { VhostConnection } from "./connection.js";
import type { AMQPConfirmChannel, Message, Options } from "./port.js";
import {
  blamedExchange,
  type ChannelCloseError,
  PublishClosedError,
  PublishNackError,
  PublishNotSentError,
  PublishUnconfirmedError,
  refusedBy,
  unroutable,
} from "./publish-errors.js";
import { isAccessRefusal } from "./refusal.js";

export { encodeBody, type PublishOptions } from "./publish-options.js";

/** How much a publisher may hold for the broker: written to its connection and not confirmed yet. */
export interface PublishLimits {
  /** Messages. */
  readonly messages: number;
  /** Bytes of message bodies; one message larger than this is sent when nothing else is held. */
  readonly bytes: number;
}

/** One publish, from the call until the broker settled it and the caller has its answer. */
interface Publish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly properties: Options.Publish;
  /** ms epoch. */
  readonly deadline: number;
  readonly timeout: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** The caller has its answer; a late confirm, return or close changes nothing for it. */
  answered: boolean;
  /** Counted in the buffer: written, and neither confirmed, nacked nor lost with its channel. */
  held: boolean;
  /** The broker returned it (basic.return): its confirm, when it comes, is not a success. */
  returned: boolean;
  /**
   * The caller's async context, kept while it waits, so the write runs in it as an immediate one
   * does (async-context tooling, weir/testing's attribution, sees who published).
   */
  scope: AsyncResource | undefined;
}

/** One confirm channel and the publishes written on it, in publish order. */
class ChannelState {
  readonly written: Publish[] = [];
  head = 0;
  /** `publish()` returned false: amqplib's write buffer is full until 'drain'. */
  saturated = false;
  /** The broker's reason when it closed the channel. */
  closeError: ChannelCloseError | undefined;
  /** Publishes the channel's close failed, in publish order: judged once the close is complete. */
  readonly lost: Publish[] = [];
  /** A publish was nacked: the channel takes no more, and closes once its publishes are answered. */
  retired = false;
  private closing = false;

  /** Closes a retired channel once nothing written on it waits for an answer (once). */
  closeIfDone(): void {
    if (!this.retired || this.closing || this.head !== this.written.length) return;
    this.closing = true;
    this.channel.close().catch(() => {});
  }

  constructor(readonly channel: AMQPConfirmChannel) {}

  /** Drops released entries from the front; copies the live tail once the dead prefix outweighs it. */
  compact(): void {
    while (this.head < this.written.length && !this.written[this.head]!.held) this.head++;
    if (this.head === this.written.length) {
      this.written.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.written.length) {
      this.written.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** amqplib throws this before writing anything on a channel that is closed or closing. */
function isNeverSent(error: unknown): boolean {
  return error instanceof Error && error.name === "IllegalOperationError";
}

/** Deadlines closer together than this are expired by one timer run. */
const TIMER_SLACK_MS = 10;

/**
 * Publishes on one vhost, on the publishing connection, through a confirm channel. A publish
 * resolves only once the broker confirmed it *and* did not return it (`mandatory`, on by default),
 * and otherwise rejects with a coded error that says whether the message may be on the broker
 * (`sent`, see publish-errors.ts).
 *
 * Flow control: the publisher holds at most `limits` (messages and bytes written and not confirmed
 * yet), writes nothing while amqplib's write buffer is full (`publish()` returned false, until
 * 'drain') or while the broker blocks the connection (a resource alarm). Publishes beyond that wait
 * in order, unwritten, until their deadline. So the memory weir spends on the broker's behalf stays
 * bounded during an alarm, and a publish that fails before it was written is known to be unsent.
 *
 * Publishing is a hot path: a publish that finds room is written at once, without an async frame,
 * and deadlines share one timer instead of arming one per message.
 */
export class Publisher {
  private state: ChannelState | undefined;
  /** Channels whose publishes may still be unconfirmed (the current one, and one closing). */
  private readonly channels = new Set<ChannelState>();
  private opening = false;
  private closed = false;
  /** Publishes not written yet, in call order. */
  private waiting: Publish[] = [];
  private waitingHead = 0;
  private waitingCount = 0;
  private heldMessages = 0;
  private heldBytes = 0;
  /** Publishes whose caller has no answer yet: the deadline timer runs only while there are some. */
  private unanswered = 0;
  /** The last reason a channel could not be opened, for the error of a publish that times out. */
  private lastFailure: unknown;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (ms epoch); Infinity when it is not armed. */
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly onTimer = (): void => this.expire();

  constructor(
    private readonly connection: VhostConnection,
    private readonly logger: Logger,
    private readonly limits: PublishLimits,
  ) {
    connection.onFlow((blocked) => {
      if (blocked === undefined) this.pump();
    });
  }

  /** What the publisher holds now, for `health()`. */
  stats(): { held: number; heldBytes: number; waiting: number } {
    return { held: this.heldMessages, heldBytes: this.heldBytes, waiting: this.waitingCount };
  }

  /**
   * Publishes and resolves on the broker's confirm. `properties.mandatory` defaults to true.
   * Rejects with `WEIR_ERR_PUBLISH_NOT_SENT`, `..._UNCONFIRMED`, `..._UNROUTABLE`,
   * `..._NO_EXCHANGE`, `..._REFUSED`, `..._NACK` or `..._CLOSED`, or a `ConnectionError`
   * `WEIR_ERR_AUTH` / `InspectOnlyError` at once.
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    timeoutMs: number,
  ): Promise<void> {
    if (this.closed) return Promise.reject(new PublishClosedError());
    if (properties.mandatory === undefined) properties = { ...properties, mandatory: true };
    return new Promise<void>((resolve, reject) => {
      const publish: Publish = {
        exchange,
        routingKey,
        content,
        properties,
        deadline: Date.now() + timeoutMs,
        timeout: timeoutMs,
        resolve,
        reject,
        answered: false,
        held: false,
        returned: false,
        scope: undefined,
      };
      this.unanswered++;
      const state = this.state;
      // Never ahead of an earlier publish that waits: the order of calls is the order on the wire.
      if (state === undefined || this.waitingCount > 0 || !this.writable(state, publish)) {
        this.enqueue(publish);
        if (state === undefined) this.ensureChannel();
      } else if (!this.write(state, publish)) {
        this.enqueue(publish);
        this.ensureChannel();
      }
      if (!publish.answered && publish.deadline < this.timerAt) this.arm(publish.deadline);
    });
  }

  /**
   * Stops taking publishes, fails those never written (`WEIR_ERR_PUBLISH_CLOSED`), waits up to
   * `timeoutMs` for the confirms still due, then closes the channel. That last wait is the
   * caller's to bound (the stop's close deadline): a connection the broker blocks reads nothing, so
   * its close-ok may never come, and an abandoned close must be seen as one.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.failWaiting(new PublishClosedError("the app stopped before the message was sent"));
    const state = this.state;
    this.state = undefined;
    if (state === undefined) return;
    await within(
      state.channel.waitForConfirms().catch(() => {}),
      timeoutMs,
    );
    await state.channel.close().catch(() => {});
  }

  private writable(state: ChannelState, publish: Publish): boolean {
    if (state.saturated || this.connection.blocked !== undefined) return false;
    if (this.heldMessages === 0) return true;
    return (
      this.heldMessages < this.limits.messages && this.heldBytes + publish.content.length <= this.limits.bytes
    );
  }

  /** Writes one publish; false when the channel turned out closed (nothing was written). */
  private write(state: ChannelState, publish: Publish): boolean {
    let accepted: boolean;
    try {
      accepted = state.channel.publish(
        publish.exchange,
        publish.routingKey,
        publish.content,
        publish.properties,
        (error) => this.settled(state, publish, error),
      );
    } catch (error) {
      if (isNeverSent(error)) {
        // Closing: its 'close' opens the next channel; this publish waits for it.
        if (this.state === state) this.state = undefined;
        return false;
      }
      // amqplib refused the message itself (a property it cannot encode): nothing was written.
      this.answer(publish, error instanceof Error ? error : new Error(String(error)));
      return true;
    }
    publish.held = true;
    this.heldMessages++;
    this.heldBytes += publish.content.length;
    state.written.push(publish);
    if (!accepted) state.saturated = true;
    return true;
  }

  /** The broker's confirm (error null), nack, or the channel's close, for one written publish. */
  private settled(state: ChannelState, publish: Publish, error: unknown): void {
    this.release(publish);
    state.compact();
    state.closeIfDone();
    if (error == null) {
      // A returned message is confirmed too: it was answered as unroutable when it came back.
      this.answer(publish, undefined);
    } else if (/nack/i.test((error as Error).message ?? "")) {
      this.answer(publish, new PublishNackError({ cause: error }));
      this.retire(state);
    } else {
      // The channel closed before the confirm. What that means for this publish depends on why it
      // closed, known for certain only once the close is complete: channelClosed() decides.
      if (this.state === state) this.state = undefined;
      state.lost.push(publish);
    }
    this.pump();
  }

  /**
   * A nack is an internal error of the queue (https://www.rabbitmq.com/docs/confirms). After the
   * node holding a quorum queue's leader crashed, RabbitMQ (3.10) went on nacking every publish of
   * the channel that had been publishing to that queue, while a new channel published fine (issue
   * #18, test/cluster/failover.test.ts). So a channel that got a nack takes no more publishes: the
   * next ones go out on a new channel, and it is closed once what was written on it is answered.
   */
  private retire(state: ChannelState): void {
    if (!state.retired) {
      state.retired = true;
      if (this.state === state) this.state = undefined;
      this.logger.warn("the broker nacked a publish; publishing goes on on a new channel");
    }
    state.closeIfDone();
  }

  /**
   * basic.return: the broker could not route a mandatory message. It carries no delivery tag, so it
   * is matched to the oldest unsettled publish of the channel with the same exchange, routing key,
   * message id and body: RabbitMQ handles a channel's publishes in order and sends a return before
   * that message's confirm. Two identical messages in flight are interchangeable.
   */
  private returned(state: ChannelState, message: Message): void {
    const { exchange, routingKey, replyCode, replyText } = message.fields as Message["fields"] & {
      replyCode: number;
      replyText: string;
    };
    for (let i = state.head; i < state.written.length; i++) {
      const publish = state.written[i]!;
      if (!publish.held || publish.returned) continue;
      if (publish.exchange !== exchange || publish.routingKey !== routingKey) continue;
      if (publish.properties.messageId !== message.properties.messageId) continue;
      if (!publish.content.equals(message.content)) continue;
      publish.returned = true;
      this.answer(publish, unroutable(replyCode, replyText, exchange, routingKey));
      return;
    }
    this.logger.warn({ exchange, routingKey, replyCode, replyText }, "returned message matches no publish");
  }

  /** A server channel close: its reason, for channelClosed() to judge the lost publishes by. */
  private channelError(state: ChannelState, error: ChannelCloseError): void {
    state.closeError = error;
    this.logger.warn(failureFields(error), "publish channel closed by the broker");
  }

  /**
   * The channel is closed and its unconfirmed publishes failed (`lost`, in publish order). When the
   * broker closed it in answer to a basic.publish and named the exchange (404 no such exchange, 403
   * no write access), the oldest lost publish to that exchange is the one refused: nothing of it was
   * stored. Every publish written after it was discarded unread (a closing channel ignores all but
   * close-ok, AMQP 0-9-1 §4.2.5), so those wait, first in line, for the next channel. The others may
   * have been stored: UNCONFIRMED.
   */
  private channelClosed(state: ChannelState): void {
    this.channels.delete(state);
    if (this.state === state) this.state = undefined;
    const closeError = state.closeError;
    const blamed = closeError === undefined ? undefined : blamedExchange(closeError);
    const resend: Publish[] = [];
    let refused = false;
    for (const publish of state.lost) {
      if (publish.returned) continue; // processed by the broker, and answered when it came back
      if (blamed !== undefined && refused) {
        if (!publish.answered) resend.push(publish);
      } else if (blamed !== undefined && publish.exchange === blamed && closeError !== undefined) {
        refused = true;
        this.answer(publish, refusedBy(closeError, publish.exchange, publish.routingKey));
      } else {
        this.answer(
          publish,
          new PublishUnconfirmedError(
            "the channel closed after the message was sent and before the broker confirmed it; " +
              "it may have been stored",
            { cause: closeError },
          ),
        );
      }
    }
    state.lost.length = 0;
    if (resend.length > 0) {
      this.waiting = [...resend, ...this.waiting.slice(this.waitingHead)];
      this.waitingHead = 0;
      this.waitingCount += resend.length;
      for (const publish of resend) if (publish.deadline < this.timerAt) this.arm(publish.deadline);
    }
    if (this.waitingCount > 0) this.ensureChannel();
  }

  private release(publish: Publish): void {
    if (!publish.held) return;
    publish.held = false;
    this.heldMessages--;
    this.heldBytes -= publish.content.length;
  }

  private answer(publish: Publish, error: Error | undefined): void {
    if (publish.answered) return;
    publish.answered = true;
    if (--this.unanswered === 0 && this.timer !== undefined) {
      // Nothing left to time out: no timer keeps the process alive.
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
    }
    if (error === undefined) publish.resolve();
    else publish.reject(error);
  }

  private enqueue(publish: Publish): void {
    publish.scope ??= new AsyncResource("weir.publish");
    this.waiting.push(publish);
    this.waitingCount++;
  }

  /** Writes waiting publishes, in order, while there is room. */
  private pump(): void {
    const state = this.state;
    if (state === undefined) {
      if (this.waitingCount > 0) this.ensureChannel();
      return;
    }
    const waiting = this.waiting;
    while (this.waitingHead < waiting.length) {
      const publish = waiting[this.waitingHead]!;
      if (publish.answered) {
        // It expired while waiting (counted out already).
        this.waitingHead++;
        continue;
      }
      if (!this.writable(state, publish)) break;
      const scope = publish.scope;
      const written =
        scope === undefined
          ? this.write(state, publish)
          : scope.runInAsyncScope(this.write, this, state, publish);
      if (!written) break;
      this.waitingHead++;
      this.waitingCount--;
    }
    if (this.waitingHead === waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    } else if (this.waitingHead > 1024 && this.waitingHead * 2 > waiting.length) {
      this.waiting = waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    if (this.state === undefined && this.waitingCount > 0) this.ensureChannel();
  }

  private ensureChannel(): void {
    if (this.state !== undefined || this.opening || this.closed) return;
    this.opening = true;
    void this.openChannel()
      .catch((error: unknown) => this.failWaiting(error instanceof Error ? error : new Error(String(error))))
      .then(() => {
        this.opening = false;
        this.pump();
      });
  }

  /**
   * Opens a confirm channel on the publishing connection, waiting (through its reconnects) for as
   * long as publishes wait; their deadlines, not this loop, decide when they give up. A refusal, an
   * inspect-only process or a closed app fails every waiting publish at once: waiting changes none.
   */
  private async openChannel(): Promise<void> {
    while (!this.closed && this.waitingCount > 0) {
      try {
        const model = await this.connection.connect();
        const channel = await model.createConfirmChannel();
        if (this.closed) {
          await channel.close().catch(() => {});
          return;
        }
        this.attach(channel);
        return;
      } catch (error) {
        const fatal = this.fatal(error);
        if (fatal !== undefined) {
          this.failWaiting(fatal);
          return;
        }
        this.lastFailure = error;
        await sleep(50);
      }
    }
  }

  private fatal(error: unknown): Error | undefined {
    if (error instanceof PublishError || error instanceof InspectOnlyError || isAccessRefusal(error)) {
      return error;
    }
    if (this.closed || (error instanceof ConnectionError && this.connection.isClosed)) {
      return new PublishClosedError();
    }
    return undefined;
  }

  private failWaiting(error: Error): void {
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.answer(this.waiting[i]!, error);
    this.waiting = [];
    this.waitingHead = 0;
    this.waitingCount = 0;
  }

  private attach(channel: AMQPConfirmChannel): void {
    const state = new ChannelState(channel);
    channel.on("error", (error: ChannelCloseError) => this.channelError(state, error));
    // After amqplib's own 'close' listener, which fails the unconfirmed publishes first.
    channel.on("close", () => this.channelClosed(state));
    channel.on("return", (message: Message) => this.returned(state, message));
    channel.on("drain", () => {
      state.saturated = false;
      if (this.state === state) this.pump();
    });
    this.channels.add(state);
    this.state = state;
  }

  /** Fails every publish whose deadline passed, then re-arms for the earliest one left. */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      const publish = this.waiting[i]!;
      if (publish.answered) continue;
      if (publish.deadline <= now) {
        this.waitingCount--;
        this.answer(publish, this.notSent(publish));
      } else if (publish.deadline < next) next = publish.deadline;
    }
    for (const state of this.channels) {
      for (let i = state.head; i < state.written.length; i++) {
        const publish = state.written[i]!;
        if (publish.answered || !publish.held) continue;
        if (publish.deadline <= now) {
          // Still held: its bytes stay counted until the broker settles it or its channel dies.
          this.answer(publish, this.unconfirmed(publish));
        } else if (publish.deadline < next) next = publish.deadline;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(Math.max(next, now + TIMER_SLACK_MS));
  }

  private notSent(publish: Publish): PublishNotSentError {
    const blocked = this.connection.blocked;
    const until = `within the publish timeout (${publish.timeout} ms); the message was not sent`;
    if (blocked !== undefined) {
      return new PublishNotSentError(
        "blocked",
        `the broker blocked publishing (${blocked.reason}: a resource alarm) ${until}`,
      );
    }
    if (this.state === undefined) {
      return new PublishNotSentError("no-connection", `no connection to the broker ${until}`, {
        cause: this.lastFailure,
      });
    }
    return new PublishNotSentError(
      "buffer-full",
      `no room in the publish buffer (${this.heldMessages} messages, ${this.heldBytes} bytes unconfirmed; ` +
        `limits ${this.limits.messages} messages, ${this.limits.bytes} bytes) ${until}`,
    );
  }

  private unconfirmed(publish: Publish): PublishUnconfirmedError {
    const blocked = this.connection.blocked;
    const why = blocked === undefined ? "" : ` (the broker blocks the connection: ${blocked.reason})`;
    return new PublishUnconfirmedError(
      `the message was sent, but the broker did not confirm it within the publish timeout ` +
        `(${publish.timeout} ms)${why}; it may have been stored`,
    );
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - Date.now()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise`, or `ms`, whichever comes first; the timer is cleared either way. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, ms));
    }),
  ]);
  clearTimeout(timer);
}
