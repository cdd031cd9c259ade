import type { Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** What the sweep last saw of a connection. */
interface Seen {
  bytesRead: number;
  /** When `bytesRead` last changed (ms, `Date.now()`). */
  since: number;
}

type HTTPSocket = Socket & {
  /** The response Node has bound to the socket (cleared once it is sent): http-internal. */
  _httpMessage?: ServerResponse | null;
  /** Node's HTTP parser of the socket; null once the socket left HTTP (an upgrade) or closed. */
  parser?: unknown;
};

/**
 * Closes connections whose client has gone silent before its request was in: Node 20 checks
 * `headersTimeout` and `requestTimeout` only when bytes arrive, so a client that sends part of a
 * request head (or nothing at all, or part of a body) and then stops would hold its connection, a
 * file descriptor and parser state forever (`server.timeout` is 0 by default). Every `everyMs`, a
 * sweep looks at each connection: one that has sent nothing for `idleMs` is destroyed unless a
 * request on it is complete and being handled (a handler may take as long as it needs, silently),
 * or it is kept alive between requests (Node closes those after `keepAliveTimeout`).
 *
 * A sweep rather than Node's per-socket inactivity timer (`server.setTimeout`), which is re-armed
 * on every request and refreshed on every read and write: that timer was a measurable part of the
 * CPU weir's server spends per request (issue #19). The sweep's cost is per connection and per
 * second; a silent client is closed between `idleMs` and `idleMs + everyMs` after it went quiet.
 */
export function closeSilentClients(server: Server, idleMs: number, everyMs: number): void {
  const connections = new Map<HTTPSocket, Seen>();
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    const now = Date.now();
    for (const [socket, seen] of connections) {
      if (socket.destroyed) {
        connections.delete(socket);
        continue;
      }
      if (socket.bytesRead !== seen.bytesRead) {
        seen.bytesRead = socket.bytesRead;
        seen.since = now;
        continue;
      }
      if (now - seen.since < idleMs || socket.parser == null) continue;
      const response = socket._httpMessage;
      const silent =
        response === undefined || response === null
          ? // Nothing answered on it yet: nothing, or part of a first head, has come in. A
            // connection that has had answers is kept alive between requests: Node's to close.
            socket.bytesWritten === 0
          : !response.req.complete;
      if (silent) {
        connections.delete(socket);
        socket.destroy();
      }
    }
  };
  server.on("connection", (socket: HTTPSocket) => {
    connections.set(socket, { bytesRead: socket.bytesRead, since: Date.now() });
  });
  server.on("listening", () => {
    sweeper ??= setInterval(sweep, everyMs).unref();
  });
  server.on("close", () => {
    clearInterval(sweeper);
    sweeper = undefined;
    connections.clear();
  });
}
