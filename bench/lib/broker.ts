import { randomUUID } from "node:crypto";
import * as amqp from "amqplib";
import { BENCH_URL, benchBody, PUBLISH_PROPERTIES, QUEUE_ARGUMENTS, QUEUE_PREFIX } from "./spec.js";

/**
 * The orchestrator's own connection: it creates each run's queue, preloads it, checks what is left
 * after the runner exits, and deletes it. It never touches a queue it did not create.
 */
export class BenchBroker {
  private readonly created = new Set<string>();
  /** Set when the connection or channel closed under us (e.g. someone restarted the broker). */
  lost = false;
  /** Set by close(): from then on nothing reconnects or creates a queue. */
  private closing = false;

  get closed(): boolean {
    return this.closing;
  }

  private constructor(
    private model: amqp.ChannelModel,
    private channel: amqp.ConfirmChannel,
  ) {
    this.watch();
  }

  static async connect(): Promise<BenchBroker> {
    const { model, channel } = await BenchBroker.open();
    return new BenchBroker(model, channel);
  }

  private static async open(): Promise<{ model: amqp.ChannelModel; channel: amqp.ConfirmChannel }> {
    const model = await amqp.connect(BENCH_URL, {
      clientProperties: { connection_name: "weir-bench:orchestrator" },
    });
    model.on("error", () => {});
    const channel = await model.createConfirmChannel();
    channel.on("error", () => {});
    return { model, channel };
  }

  private watch(): void {
    const onClose = (): void => {
      this.lost = true;
    };
    this.model.on("close", onClose);
    this.channel.on("close", onClose);
  }

  /** Reconnects after a loss, retrying for up to a minute (a broker restart takes a few seconds). */
  async ensureOpen(): Promise<void> {
    if (this.closing) throw new Error("the harness is shutting down");
    if (!this.lost) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const { model, channel } = await BenchBroker.open();
        await this.model.close().catch(() => {});
        this.model = model;
        this.channel = channel;
        this.lost = false;
        this.watch();
        return;
      } catch (error) {
        if (attempt >= 60) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** "RabbitMQ 3.10.8 on Erlang/OTP 25.x", from the broker's connection properties. */
  get serverVersion(): { product: string; version: string; platform: string } {
    const properties = (
      this.model as unknown as { connection: { serverProperties?: Record<string, unknown> } }
    ).connection.serverProperties;
    return {
      product: String(properties?.product ?? "unknown"),
      version: String(properties?.version ?? "unknown"),
      platform: String(properties?.platform ?? "unknown"),
    };
  }

  async createQueue(label: string): Promise<string> {
    const name = `${QUEUE_PREFIX}${label}.${randomUUID().slice(0, 8)}`;
    await this.channel.assertQueue(name, { durable: true, arguments: QUEUE_ARGUMENTS });
    this.created.add(name);
    return name;
  }

  /** Publishes ids 1..n as persistent JSON, `window` unconfirmed at most, and waits for every confirm. */
  async preload(queue: string, n: number, window = 5000): Promise<void> {
    for (let from = 1; from <= n; from += window) {
      const to = Math.min(n, from + window - 1);
      for (let id = from; id <= to; id++) {
        this.channel.sendToQueue(queue, Buffer.from(JSON.stringify(benchBody(id))), PUBLISH_PROPERTIES);
      }
      await this.channel.waitForConfirms();
    }
  }

  /** Ready messages on the queue. Unacked ones of a closed consumer are back to ready by then. */
  async count(queue: string): Promise<number> {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /** Takes every message off the queue (no ack) and returns how many there were and their id sum. */
  async drain(queue: string, expected: number): Promise<{ count: number; sum: number }> {
    const channel = await this.model.createChannel();
    let count = 0;
    let sum = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => resolve(), 5000 + expected / 10);
      channel
        .consume(
          queue,
          (message) => {
            if (message === null) return;
            count++;
            sum += (JSON.parse(message.content.toString("utf8")) as { id: number }).id;
            if (count >= expected) {
              clearTimeout(timer);
              resolve();
            }
          },
          { noAck: true },
        )
        .catch(reject);
    });
    await channel.close();
    return { count, sum };
  }

  async deleteQueue(queue: string): Promise<void> {
    if (!this.created.has(queue)) return;
    await this.channel.deleteQueue(queue);
    this.created.delete(queue);
  }

  /** Deletes whatever queue of this run is still there (after a failure), then disconnects. */
  async close(): Promise<void> {
    await this.ensureOpen().catch(() => {});
    this.closing = true;
    for (const queue of [...this.created]) await this.deleteQueue(queue).catch(() => {});
    await this.channel.close().catch(() => {});
    await this.model.close().catch(() => {});
  }
}
