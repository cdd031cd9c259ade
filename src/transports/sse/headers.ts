import type { SSEHeaders } from "./options.js";

/**
 * Builds the request headers of one connection attempt. Called before every (re)connection, so a
 * header function can hand out a fresh token each time.
 */
export class HeaderSource {
  private readonly authorization: string | undefined;

  /**
   * @param sources - header options, applied in order (later ones win, names compared case-insensitively)
   * @param user - user of a Basic Authorization header, if any
   * @param password - its password
   */
  constructor(
    private readonly sources: readonly SSEHeaders[],
    user: string | undefined,
    password: string | undefined,
  ) {
    this.authorization =
      user === undefined ? undefined : `Basic ${Buffer.from(`${user}:${password ?? ""}`).toString("base64")}`;
  }

  /**
   * Resolves every header source. Rejects when a header function throws or returns something that
   * is not an object of valid header values; the caller turns that into `WEIR_ERR_SSE_HEADERS`.
   */
  async resolve(lastEventId: string | undefined): Promise<Headers> {
    const headers = new Headers();
    if (this.authorization !== undefined) headers.set("Authorization", this.authorization);
    for (const source of this.sources) {
      const values = typeof source === "function" ? await source() : source;
      if (typeof values !== "object" || values === null) {
        throw new TypeError(`the headers function returned ${values === null ? "null" : typeof values}`);
      }
      // Headers#set validates names and values (no CR/LF), so a bad value fails here, not in fetch.
      for (const [name, value] of Object.entries(values)) headers.set(name, String(value));
    }
    // Weir's own id, not the package's: a new EventSource instance would forget it.
    if (lastEventId !== undefined && lastEventId !== "") headers.set("Last-Event-ID", lastEventId);
    return headers;
  }
}
