import type { RedisMessage } from "./message.js";

/**
 * The entries a route read and has not settled yet, by stream, then by entry id. Two levels rather
 * than one map keyed by `stream + id`: that key was a new string per entry, built (and hashed) once
 * when the entry came in and again when it left, on the per-entry path. Here the stream's map is
 * found by a string the whole reply shares, and the id's hash is computed once and kept by the
 * string itself.
 */
export class HeldEntries {
  private readonly streams = new Map<string, Map<string, RedisMessage>>();
  private count = 0;

  /** How many entries are held, over every stream. */
  get size(): number {
    return this.count;
  }

  has(stream: string, id: string): boolean {
    return this.streams.get(stream)?.has(id) === true;
  }

  /** Holds `message` (one not held yet: the caller checks `has` first). */
  add(message: RedisMessage): void {
    let ids = this.streams.get(message.stream);
    if (ids === undefined) {
      ids = new Map();
      this.streams.set(message.stream, ids);
    }
    ids.set(message.id, message);
    this.count = this.count + 1;
  }

  /** Lets `message` go; nothing when it is not held. */
  delete(message: RedisMessage): void {
    if (this.streams.get(message.stream)?.delete(message.id) === true) this.count = this.count - 1;
  }

  /** The ids held, by stream (streams with none left out). */
  idsByStream(): Map<string, string[]> {
    const byStream = new Map<string, string[]>();
    for (const [stream, ids] of this.streams) if (ids.size > 0) byStream.set(stream, [...ids.keys()]);
    return byStream;
  }
}
