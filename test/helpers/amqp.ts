import { randomUUID } from "node:crypto";
import * as amqp from "amqplib";
import { pino } from "pino";
import { appTransports } from "../../src/core/application.js";
import { App, type AppOptions } from "../../src/index.js";
import type { AMQPChannel, AMQPConfirmChannel, GetMessage, Options } from "../../src/transports/amqp/port.js";
import { AMQPTransport, amqpInternals } from "../../src/transports/amqp/transport.js";
import { appConnectionNames, closeConnections } from "./rabbitmqctl.js";
import { memoryBackend, TEST_BROKER } from "./test-broker.js";

export const AMQP_URL = process.env.WEIR_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** A logger that keeps tests quiet; set WEIR_TEST_LOG=debug to see weir's logs. */
export const silentLogger = pino({ level: process.env.WEIR_TEST_LOG ?? "silent" });

export function uniqueName(prefix: string): string {
  return `weir-test.${prefix}.${randomUUID().slice(0, 8)}`;
}

/**
 * An app on the test broker (TEST_BROKER): RabbitMQ at AMQP_URL, or, under
 * `WEIR_TEST_BROKER=memory`, the file's in-memory broker, through the transport's own seam (as
 * weir/testing's driver plugs it in), so that the app runs the same code either way.
 */
export function createApp(options: AppOptions = {}): App {
  const app = new App({ logger: silentLogger, ...options, amqp: { url: AMQP_URL, ...options.amqp } });
  if (TEST_BROKER === "memory") {
    const transport = app[appTransports].get("amqp");
    if (!(transport instanceof AMQPTransport)) throw new Error("the app has no AMQP transport");
    transport[amqpInternals]().useConnect(memoryBackend().connect);
  }
  return app;
}

/**
 * Drops the connections named `prefix...` (weir names its own `weir:<app name>:<vhost>`), as a
 * network failure would, and returns how many: `rabbitmqctl close_connection` on RabbitMQ, the
 * in-memory broker's own drop on memory.
 */
export async function dropConnections(prefix: string): Promise<number> {
  if (TEST_BROKER === "memory") return memoryBackend().drop(prefix);
  return closeConnections(prefix);
}

/** The sorted names of app `app`'s open connections (`weir:<app>:<vhost>[:publish]`), on the test broker. */
export async function connectionNames(app: string): Promise<string[]> {
  if (TEST_BROKER === "memory") return memoryBackend().names(`weir:${app}:`);
  return appConnectionNames(app);
}

/** A channel of the `Broker` helper: the port's, and `deleteExchange` to clean up after a test. */
export type BrokerChannel = AMQPChannel & { deleteExchange(exchange: string): Promise<unknown> };

/** What the `Broker` helper uses of a connection: amqplib's `ChannelModel` and the in-memory one both are. */
interface BrokerConnection {
  createChannel(): Promise<BrokerChannel>;
  createConfirmChannel(): Promise<AMQPConfirmChannel>;
  close(): Promise<void>;
}

/**
 * The test's own view of the broker, independent of weir, used to set up queues, publish fixtures
 * and count what is left on the broker: a raw amqplib connection to RabbitMQ, or, under
 * `WEIR_TEST_BROKER=memory`, a connection to the file's in-memory broker, the one its apps use.
 */
export class Broker {
  private constructor(
    private readonly connection: BrokerConnection,
    private readonly channel: AMQPConfirmChannel,
    private readonly queues: Set<string>,
  ) {}

  /** Connects to `vhost` of the shared node, or of another node (`base`, an extra node's URL). */
  static async connect(vhost = "/", base = AMQP_URL): Promise<Broker> {
    const url = new URL(base);
    url.pathname = `/${encodeURIComponent(vhost)}`;
    let connection: BrokerConnection;
    if (TEST_BROKER === "memory") {
      // An extra node (rabbit-node.ts) is RabbitMQ by nature: its tests stay in the integration project.
      if (base !== AMQP_URL) throw new Error("Broker.connect(vhost, base): another node is RabbitMQ-only");
      connection = await memoryBackend().open(url.toString(), "weir-test:broker");
    } else {
      connection = await amqp.connect(url.toString());
    }
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => {});
    return new Broker(connection, channel, new Set());
  }

  async queue(name: string, args: Record<string, unknown> = {}): Promise<string> {
    await this.channel.assertQueue(name, { durable: true, arguments: args });
    this.queues.add(name);
    return name;
  }

  /** Deletes `name` on `close()` too: a queue weir declared during the test (a `.dlq`, say). */
  track(name: string): void {
    this.queues.add(name);
  }

  async publish(queue: string, bodies: readonly unknown[], properties: Options.Publish = {}): Promise<void> {
    for (const body of bodies) {
      const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      this.channel.sendToQueue(queue, content, { persistent: true, ...properties });
    }
    await this.channel.waitForConfirms();
  }

  /** Messages ready on the queue (unacked ones are not counted until their channel settles them). */
  async count(queue: string): Promise<number> {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /** Takes every ready message off the queue (acked) and returns their JSON bodies. */
  async drain(queue: string): Promise<unknown[]> {
    const bodies: unknown[] = [];
    for (let i = 0; i < 100_000; i++) {
      const message = await this.channel.get(queue, { noAck: true });
      if (message === false) break;
      bodies.push(JSON.parse(message.content.toString()));
    }
    return bodies;
  }

  /** Takes every ready message off the queue (acked) and returns them whole (headers included). */
  async getAll(queue: string): Promise<GetMessage[]> {
    const messages: GetMessage[] = [];
    for (let i = 0; i < 100_000; i++) {
      const message = await this.channel.get(queue, { noAck: true });
      if (message === false) break;
      messages.push(message);
    }
    return messages;
  }

  /** Whether a queue exists (checked on a throwaway channel: a failed check closes its channel). */
  async exists(name: string): Promise<boolean> {
    const channel = await this.connection.createChannel();
    channel.on("error", () => {});
    try {
      await channel.checkQueue(name);
      await channel.close();
      return true;
    } catch {
      return false;
    }
  }

  /** Runs `fn` on a throwaway channel (a refused declare closes only that one). */
  async withChannel<T>(fn: (channel: BrokerChannel) => Promise<T>): Promise<T> {
    const channel = await this.connection.createChannel();
    channel.on("error", () => {});
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  async deleteQueue(name: string): Promise<void> {
    await this.channel.deleteQueue(name);
  }

  async close(): Promise<void> {
    for (const queue of this.queues) await this.channel.deleteQueue(queue).catch(() => {});
    await this.channel.close().catch(() => {});
    await this.connection.close().catch(() => {});
  }
}

/** Polls `predicate` every 20 ms until it holds or `timeoutMs` passes (then throws). */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await predicate()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
