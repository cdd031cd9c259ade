import { Delivery } from "../../core/consume/delivery.js";
import type { Logger } from "../../core/logger.js";

const NO_HEADERS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * One Server-Sent Event as a handler receives it: a `Delivery`, so `accept()` / `reject()` /
 * `deadLetter()` work as on AMQP messages, as far as SSE can (it has no redelivery: a rejected or
 * dead-lettered event is dropped and counted, docs/sse.md).
 */
export class SSEEvent<T = unknown> extends Delivery<T> {
  /** The event type (the `event:` field); `"message"` when the server sent none. */
  readonly name: string;
  /** The raw data: the `data:` lines of the event joined with `"\n"`. */
  readonly data: string;
  /** This event's own `id:` field; `undefined` when the server sent none. */
  readonly id: string | undefined;
  /**
   * The stream's last event id once this event was received: its own id, else the last id seen
   * before it on this stream ("" when none). It is what weir sends as `Last-Event-ID` on a reconnect.
   */
  readonly lastEventId: string;
  /** The route path of the stream it came from (a route may consume several paths). */
  readonly path: string;
  private readonly logger: Logger;

  /**
   * The body is the data JSON-decoded; data that is not JSON is given as the string itself (never a
   * crash), so type `T` as `MyEvent | string` when the server may send plain text. With a route
   * `schema`, the schema's output.
   */
  constructor(
    path: string,
    name: string,
    data: string,
    id: string | undefined,
    lastEventId: string,
    logger: Logger,
  ) {
    super(decode(data) as T);
    this.name = name;
    this.data = data;
    this.id = id;
    this.lastEventId = lastEventId;
    this.path = path;
    this.logger = logger;
  }

  get source(): string {
    return this.path;
  }

  /** SSE events carry no headers. */
  get headers(): Readonly<Record<string, unknown>> {
    return NO_HEADERS;
  }

  /** SSE never redelivers an event (a reconnect resumes after the last id). */
  get redelivered(): boolean {
    return false;
  }

  /** @internal */
  get messageId(): string | undefined {
    return this.id;
  }

  /** @internal */
  get rawBytes(): Buffer {
    return Buffer.from(this.data, "utf8");
  }

  /** @internal */
  logFields(): Record<string, unknown> {
    return { path: this.path, eventId: this.id };
  }

  /** @internal */
  priorAttempts(): number {
    return 0;
  }

  protected get deliveryLogger(): Logger {
    return this.logger;
  }
}

/** JSON when it parses, else the text: a stream mixing JSON and plain text must not stop. */
function decode(data: string): unknown {
  // Cheap pre-check: most plain-text data cannot be JSON, and a throw per event costs more.
  const first = data.charCodeAt(0);
  const maybeJSON =
    first === 123 /* { */ ||
    first === 91 /* [ */ ||
    first === 34 /* " */ ||
    first === 45 /* - */ ||
    (first >= 48 && first <= 57) /* 0-9 */ ||
    data === "true" ||
    data === "false" ||
    data === "null" ||
    first === 32 ||
    first === 9 ||
    first === 10 ||
    first === 13; /* JSON allows leading whitespace */
  if (!maybeJSON) return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}
