import type { Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Closes connections whose client has gone silent before its request was in: Node 20 checks
 * `headersTimeout` and `requestTimeout` only when bytes arrive, so a client that sends part of a
 * request head (or nothing at all, or part of a body) and then stops would hold its connection, a
 * file descriptor and parser state forever (`server.timeout` is 0 by default). Every socket gets an
 * inactivity timeout of `idleMs`; when it fires, the socket is destroyed unless a request on it is
 * complete and being handled: a handler may take as long as it needs, silently. Between requests a
 * kept-alive socket times out after `keepAliveTimeout`, as in Node, and is destroyed here too.
 */
export function closeSilentClients(server: Server, idleMs: number): void {
  server.setTimeout(idleMs);
  // With a listener, Node no longer destroys a timed-out socket itself: this decides.
  server.on("timeout", (socket: Socket) => {
    // The response Node has bound to the socket (cleared once it is sent): long-standing
    // http-internal, read by on-finished and others; there is no public equivalent.
    const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (response === undefined || response === null || !response.req.complete) socket.destroy();
  });
}
