import type { RedisOptions as IORedisOptions, Redis } from "ioredis";
import type { Logger } from "../../core/logger.js";
import { redactUrl } from "../../core/logger.js";
import type { ConnectionHealth } from "../../core/transport.js";

/** The ioredis module, imported on first use: `import "weir"` never loads it. */
let ioredis: Promise<typeof Redis> | undefined;

function loadRedis(): Promise<typeof Redis> {
  ioredis ??= import("ioredis").then((module) => module.Redis);
  return ioredis;
}

/** Reconnect delays: 50 ms, doubling, at most 2 s, with jitter; never gives up. */
function retryStrategy(times: number): number {
  const base = Math.min(2_000, 50 * 2 ** Math.min(times, 6));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** One Redis connection weir holds, with what health reports of it. */
export interface LinkedClient {
  readonly role: string;
  readonly client: Redis;
  /** Reconnects after the first connect. */
  reconnects: number;
}

/**
 * The transport's connections to Redis: one for commands (acks, claims, retries, dead letters,
 * `app.redis.publish`) and one per route for its blocking `XREADGROUP` (a blocked connection can
 * do nothing else). Each reconnects by itself (ioredis), forever, with a capped backoff; commands
 * sent while one is down wait for it (acks are idempotent), those in flight when it dropped are sent
 * again. Connections are named `weir:<app>:<role>` (`CLIENT LIST` shows them).
 */
export class RedisLink {
  private readonly clients: LinkedClient[] = [];
  private commandClient: Promise<Redis> | undefined;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly appName: string,
    private readonly logger: Logger,
  ) {}

  /** The node the URL names, `host:port` (never credentials). */
  get node(): string {
    try {
      const parsed = new URL(this.url);
      return `${parsed.hostname}:${parsed.port || "6379"}`;
    } catch {
      return redactUrl(this.url);
    }
  }

  /** The connection for commands, connected on first use. */
  commands(): Promise<Redis> {
    if (this.commandClient === undefined) {
      const opening = this.open("commands");
      this.commandClient = opening;
      // A failed first connect is tried again by the next caller.
      opening.catch(() => {
        if (this.commandClient === opening) this.commandClient = undefined;
      });
    }
    return this.commandClient;
  }

  /** A connection of its own (a route's blocking reads), connected. */
  async open(role: string): Promise<Redis> {
    const RedisClient = await loadRedis();
    const options: IORedisOptions = {
      connectionName: `weir:${this.appName}:${role}`.replace(/\s/g, "_"),
      // RESP2: the reply shapes of the stream commands do not depend on the client's protocol default.
      protocol: 2,
      // A command waits for the connection to come back rather than failing after a few retries.
      maxRetriesPerRequest: null,
      retryStrategy,
      lazyConnect: true,
    };
    const client = new RedisClient(this.url, options);
    const linked: LinkedClient = { role, client, reconnects: 0 };
    let connected = false;
    let told = false;
    client.on("ready", () => {
      if (connected) {
        linked.reconnects++;
        this.logger.info(
          { role, node: this.node, reconnects: linked.reconnects },
          "redis connection restored",
        );
      }
      connected = true;
      told = false;
    });
    client.on("error", (error: Error) => {
      // ioredis reconnects by itself; say it once per outage, not once per attempt.
      if (told || this.closed) return;
      told = true;
      this.logger.warn(
        { role, node: this.node, reason: error.message },
        "redis connection failed; reconnecting",
      );
    });
    this.clients.push(linked);
    try {
      await client.connect();
    } catch (error) {
      // No retries in the background for a connection nobody will use.
      this.clients.splice(this.clients.indexOf(linked), 1);
      client.disconnect();
      throw error;
    }
    return client;
  }

  /** Closes `client` (a route's reader) and forgets it. */
  async release(client: Redis): Promise<void> {
    const index = this.clients.findIndex((linked) => linked.client === client);
    if (index >= 0) this.clients.splice(index, 1);
    await quit(client);
  }

  health(): ConnectionHealth[] {
    return this.clients.map((linked) => ({
      role: linked.role,
      connected: linked.client.status === "ready",
      node: linked.client.status === "ready" ? this.node : null,
      reconnects: linked.reconnects,
    }));
  }

  /** Whether the command connection is up (or not opened yet). */
  get commandsReady(): boolean {
    const linked = this.clients.find((c) => c.role === "commands");
    return linked === undefined || linked.client.status === "ready";
  }

  /** Closes every connection: `QUIT` when it answers, else a disconnect. */
  async close(): Promise<void> {
    this.closed = true;
    const clients = this.clients.splice(0);
    this.commandClient = undefined;
    await Promise.all(clients.map((linked) => quit(linked.client)));
  }
}

/** Closes `client`: `QUIT` when it answers within 1 s, else a disconnect. */
export async function quit(client: Redis): Promise<void> {
  if (client.status !== "ready") {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 1_000);
      }),
    ]);
  } catch {
    // Closed already.
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
