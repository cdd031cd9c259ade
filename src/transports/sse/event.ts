/** One Server-Sent Event as a handler receives it. */
export interface SSEEvent<T = unknown> {
  /** The event type (the `event:` field); `"message"` when the server sent none. */
  readonly name: string;
  /**
   * The data, JSON-decoded. Data that is not JSON is given as the string itself (never a crash), so
   * type `T` as `MyEvent | string` when the server may send plain text.
   */
  readonly body: T;
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

export function createEvent(
  path: string,
  name: string,
  data: string,
  id: string | undefined,
  lastEventId: string,
): SSEEvent {
  return { name, body: decode(data), data, id, lastEventId, path };
}
