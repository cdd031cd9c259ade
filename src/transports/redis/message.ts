import { Delivery } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";
import { attemptsOf, BODY_FIELD, type Fields, RedisFields } from "./fields.js";

/**
 * One entry of a Redis stream as a handler receives it, read through the route's consumer group:
 * its body (the `body` field, JSON-decoded, or the entry's fields when it has none), its fields as
 * headers, its entry `id` and `stream`, and how many times the group delivered it.
 */
export class RedisMessage<T = unknown> extends Delivery<T> {
  private headerView: Readonly<Record<string, string>> | undefined;

  constructor(
    /** The stream it was read from. */
    readonly stream: string,
    /** Its entry id (`<ms>-<seq>`). */
    readonly id: string,
    /** The entry's fields as stored, `body` included. */
    readonly fields: Fields,
    body: T,
    /**
     * How many times the group delivered it (the pending list's delivery count): 1 the first time,
     * more after a requeue or a reclaim from a consumer that died.
     */
    readonly deliveryCount: number,
    private readonly log: Logger,
  ) {
    super(body);
  }

  get source(): string {
    return this.stream;
  }

  /** The entry's fields but `body`. */
  get headers(): Readonly<Record<string, string>> {
    if (this.headerView === undefined) {
      const { [BODY_FIELD]: _body, ...rest } = this.fields;
      this.headerView = rest;
    }
    return this.headerView;
  }

  get redelivered(): boolean {
    return this.deliveryCount > 1;
  }

  get messageId(): string | undefined {
    return this.fields[RedisFields.MESSAGE_ID];
  }

  get rawBytes(): Buffer {
    const body = this.fields[BODY_FIELD];
    return Buffer.from(body ?? JSON.stringify(this.fields), "utf8");
  }

  logFields(): Record<string, unknown> {
    return { stream: this.stream, id: this.id };
  }

  priorAttempts(): number {
    return attemptsOf(this.fields);
  }

  /** The group's own count: a requeue or a reclaim after a crash is a redelivery. */
  override brokerRedeliveries(): number {
    return Math.max(0, this.deliveryCount - 1);
  }

  protected get deliveryLogger(): Logger {
    return this.log;
  }
}
