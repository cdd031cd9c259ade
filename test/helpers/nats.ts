import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AckPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { pino } from "pino";
import { App, type AppOptions } from "../../src/index.js";

/** The shared NATS server (JetStream on); never reconfigured or stopped by a test. */
export const NATS_URL = process.env.WEIR_NATS_URL ?? "127.0.0.1:4222";

export const silentLogger = pino({ level: process.env.WEIR_TEST_LOG ?? "silent" });

/** A unique stream name (JetStream stream names take no dots). */
export function uniqueStream(prefix: string): string {
  return `weir_test_${prefix}_${randomUUID().slice(0, 8)}`;
}

/** An app on `servers` (the shared server by default), quiet. */
export function createNATSApp(options: AppOptions = {}, servers = NATS_URL): App {
  return new App({ logger: silentLogger, ...options, nats: { servers, ...options.nats } });
}

/** A test's own admin connection: streams, publishes, counts, dead letters. */
export class NATSAdmin {
  private readonly streams = new Set<string>();
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
  ) {}

  static async connect(servers = NATS_URL): Promise<NATSAdmin> {
    const nc = await connect({
      servers,
      name: "weir-test-admin",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 200,
    });
    return new NATSAdmin(nc, jetstream(nc), await jetstreamManager(nc));
  }

  /** Creates a stream capturing `<name>.>` (deleted by `close`). */
  async stream(name: string, subjects: readonly string[] = [`${name}.>`]): Promise<string> {
    await this.jsm.streams.add({ name, subjects: [...subjects] });
    this.streams.add(name);
    return name;
  }

  /** Deletes `name` too on `close` (a stream weir creates). */
  track(name: string): void {
    this.streams.add(name);
  }

  /** Publishes each body as JSON, in order, each acked by the stream. */
  async publish(
    subject: string,
    bodies: readonly unknown[],
    headers?: Record<string, string>,
  ): Promise<void> {
    for (const body of bodies) {
      const h = headers === undefined ? undefined : natsHeaders();
      if (h !== undefined && headers !== undefined) for (const [k, v] of Object.entries(headers)) h.set(k, v);
      await this.js.publish(
        subject,
        typeof body === "string" ? body : JSON.stringify(body),
        h ? { headers: h } : {},
      );
    }
  }

  /** How many messages `stream` stores, as the server counts them. */
  async count(stream: string): Promise<number> {
    return (await this.jsm.streams.info(stream)).state.messages;
  }

  /** Undelivered + unacknowledged messages of a durable consumer (0 when it does not exist). */
  async backlog(stream: string, durable: string): Promise<number> {
    try {
      const info = await this.jsm.consumers.info(stream, durable);
      return info.num_pending + info.num_ack_pending;
    } catch {
      return -1;
    }
  }

  /** The messages of `stream`, oldest first, read without removing them ([] when it does not exist). */
  async messages(
    stream: string,
  ): Promise<{ body: unknown; subject: string; headers: Record<string, string> }[]> {
    let first: number;
    let last: number;
    try {
      const info = await this.jsm.streams.info(stream);
      first = info.state.first_seq;
      last = info.state.last_seq;
      if (info.state.messages === 0) return [];
    } catch {
      return [];
    }
    const out: { body: unknown; subject: string; headers: Record<string, string> }[] = [];
    for (let seq = first; seq <= last; seq++) {
      const m = await this.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m === null) continue;
      const headers: Record<string, string> = {};
      for (const key of m.header?.keys() ?? []) headers[key] = m.header.get(key);
      let body: unknown;
      try {
        body = JSON.parse(m.string());
      } catch {
        body = m.string();
      }
      out.push({ body, subject: m.subject, headers });
    }
    return out;
  }

  /** A durable consumer a raw client reads with (for the bench). */
  async durable(stream: string, name: string, maxAckPending: number): Promise<void> {
    await this.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: maxAckPending,
    });
  }

  async close(): Promise<void> {
    for (const stream of this.streams) await this.jsm.streams.delete(stream).catch(() => false);
    this.streams.clear();
    await this.nc.close();
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * A TCP proxy to the shared server: `drop()` cuts every connection through it (as a network failure
 * would) and refuses new ones for `pauseMs`, without touching the server itself.
 */
export class NATSProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target = NATS_URL): Promise<NATSProxy> {
    const [host, port] = target.replace(/^nats:\/\//, "").split(":");
    let proxy: NATSProxy | undefined;
    const server = createServer((client) => {
      if (proxy?.refusing) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host, port: Number(port ?? 4222) });
      proxy?.sockets.add(client);
      proxy?.sockets.add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        proxy?.sockets.delete(client);
        proxy?.sockets.delete(upstream);
      };
      client.on("error", done).on("close", done);
      upstream.on("error", done).on("close", done);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    proxy = new NATSProxy(server, address.port);
    return proxy;
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Cuts every connection, refuses new ones for `pauseMs`; resolves with how many were cut. */
  async drop(pauseMs = 500): Promise<number> {
    this.refusing = true;
    const count = this.sockets.size / 2;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    this.refusing = false;
    return count;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * A nats-server of the test's own (JetStream on, file storage in a temp dir) on a free port, that
 * the test may kill and restart: never the shared one on 4222.
 */
export class OwnNATSServer {
  private process: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnNATSServer> {
    const server = new OwnNATSServer(await freePort(), mkdtempSync(join(tmpdir(), "weir-nats-")));
    await server.run();
    return server;
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  private async run(): Promise<void> {
    const binary = process.env.WEIR_NATS_SERVER ?? "/usr/sbin/nats-server";
    const child = spawn(binary, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir], {
      stdio: "ignore",
    });
    this.process = child;
    const end = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
      const open = await new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: "127.0.0.1", port: this.port });
        socket.once("connect", () => resolve(true)).once("error", () => resolve(false));
        socket.setTimeout(500, () => resolve(false));
        socket.once("close", () => socket.destroy());
        setTimeout(() => socket.destroy(), 600);
      });
      if (open) return;
      if (Date.now() > end) throw new Error("nats-server did not start within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the server (SIGKILL: nothing flushed on purpose beyond what it synced). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
    this.process = undefined;
  }

  /** Kills it, waits `downMs`, starts it again on the same port and store. */
  async restart(downMs = 500, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await this.kill(signal);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.run();
  }

  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}
