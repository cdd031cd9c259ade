/**
 * The stream of the SSE pair (bench/lib/sse-pair.ts): a bare Node HTTP server that sends every
 * connection `n` events as fast as the connection takes them (`id:` and a ~100-byte JSON `data:`
 * line each, ids 1..n, written 200 events a chunk, waiting for `drain` when the socket is full),
 * then keeps the stream open: the client ends it once it has seen all n. Pinned to the core the
 * client is not on. Prints `ready <port>`; closes and exits when stdin ends.
 *
 * Usage: sse-server <n>
 */

import { once } from "node:events";
import { createServer, type ServerResponse } from "node:http";
import { createInterface } from "node:readline";
import { benchBody } from "../lib/spec.js";

const CHUNK_EVENTS = 200;

const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 1) throw new Error("usage: sse-server <n>");

async function stream(response: ServerResponse): Promise<void> {
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  let chunk = "";
  for (let id = 1; id <= n; id++) {
    chunk += `id: ${id}\ndata: ${JSON.stringify(benchBody(id))}\n\n`;
    if (id % CHUNK_EVENTS === 0 || id === n) {
      const room = response.write(chunk);
      chunk = "";
      if (!room) await once(response, "drain");
      if (response.destroyed) return;
    }
  }
}

const server = createServer((request, response) => {
  if (request.url?.startsWith("/events") !== true) {
    response.writeHead(404).end();
    return;
  }
  stream(response).catch(() => response.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`ready ${typeof address === "object" && address !== null ? address.port : 0}\n`);
});
createInterface({ input: process.stdin }).once("close", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
