import { type Action, Actions } from "../../core/constants.js";
import type { Acknowledger } from "../../core/consume/acknowledger.js";
import { type Logger, failureFields as logFailure } from "../../core/logger.js";
import type { RedisCommands } from "./commands.js";
import { failureFields, RedisFields } from "./fields.js";
import type { RedisMessage } from "./message.js";

/** What the acknowledger and the forwarding tell the route's consumer. */
export interface EntryKeeper {
  /** These entries left the route's hands (acked, forwarded, or released): room to read more. */
  letGo(messages: readonly RedisMessage[]): void;
  /** Entries were released pending (a requeue): claim them again soon. */
  requeued(): void;
  /** A command in flight, for the stop to wait for. */
  track(command: Promise<unknown>): void;
}

/** A route's settings the acknowledger needs. */
export interface AckSettings {
  readonly group: string;
  readonly consumer: string;
  readonly claimIdle: number;
  /** Rejected entries go to `<stream>.dlq` (else they are acked and dropped). */
  readonly deadLetter: boolean;
}

/**
 * Settles a route's entries: `ack` is one `XACK` per stream and bulk; `requeue` leaves the entries
 * pending and marks them idle (`XCLAIM ... IDLE claimIdle JUSTID`), so the next `XAUTOCLAIM` of any
 * consumer of the group takes them at once, counted in their delivery count (this consumer sweeps
 * right after); `reject` acks them, after a copy in `<stream>.dlq` when the route has one. Entries a
 * stop abandons are released like a requeue. A failed command is logged: the entry stays pending,
 * and the group redelivers it after `claimIdle` (at-least-once, never lost).
 */
export class RedisAcknowledger implements Acknowledger<RedisMessage> {
  constructor(
    private readonly settings: AckSettings,
    private readonly commands: RedisCommands,
    private readonly keeper: EntryKeeper,
    private readonly logger: Logger,
  ) {}

  settle(messages: readonly RedisMessage[], fallback: Action): void {
    const acks: RedisMessage[] = [];
    const requeues: RedisMessage[] = [];
    const rejects: RedisMessage[] = [];
    for (const message of messages) {
      const action = message.settle(fallback);
      if (action === Actions.ACK) acks.push(message);
      else if (action === Actions.REQUEUE) requeues.push(message);
      else rejects.push(message);
    }
    if (rejects.length > 0) {
      if (this.settings.deadLetter) this.rejectToDLQ(rejects);
      else acks.push(...rejects);
    }
    if (acks.length > 0) this.ack(acks);
    if (requeues.length > 0) this.release(requeues);
  }

  abandon(messages: readonly RedisMessage[]): void {
    for (const message of messages) message.settle(Actions.REQUEUE);
    this.release(messages);
  }

  /** An entry can always be acked, from any connection, as long as the group knows it. */
  settleable(): boolean {
    return true;
  }

  /** A forwarded entry (a retry, a dead letter) was written and acked: it left the route's hands. */
  forwarded(message: RedisMessage): void {
    this.keeper.letGo([message]);
  }

  /** Releases entries pending (a requeue, a failed forward). */
  release(messages: readonly RedisMessage[]): void {
    this.keeper.letGo(messages);
    const { group, consumer, claimIdle } = this.settings;
    this.keeper.track(
      this.commands.release(group, consumer, messages, claimIdle).then(
        () => this.keeper.requeued(),
        (error: unknown) => this.failed("requeue", messages, error),
      ),
    );
  }

  private ack(messages: readonly RedisMessage[]): void {
    this.keeper.letGo(messages);
    this.keeper.track(
      this.commands
        .ack(this.settings.group, messages)
        .catch((error: unknown) => this.failed("ack", messages, error)),
    );
  }

  private rejectToDLQ(messages: readonly RedisMessage[]): void {
    this.keeper.letGo(messages);
    const now = new Date();
    for (const message of messages) {
      const fields = {
        ...failureFields(message.fields, message.priorAttempts(), new Error("rejected by the handler"), now),
        [RedisFields.REASON]: "rejected",
        [RedisFields.ORIGINAL_STREAM]: message.stream,
        [RedisFields.ORIGINAL_ID]: message.id,
        [RedisFields.GROUP]: this.settings.group,
      };
      this.keeper.track(
        this.commands
          .deadLetter(this.settings.group, message, fields)
          .catch((error: unknown) => this.failed("reject", [message], error)),
      );
    }
  }

  private failed(what: string, messages: readonly RedisMessage[], error: unknown): void {
    // A Redis failure, not broken code: no stack. The entries stay pending; the group redelivers them.
    this.logger.error(
      { what, ids: messages.slice(0, 100).map((m) => m.id), count: messages.length, ...logFailure(error) },
      `could not ${what} entries; they stay pending and come back after claimIdle`,
    );
  }
}
