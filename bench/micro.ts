/**
 * weir's own cost per message, without a broker, a socket or amqplib (`npx tsx bench/micro.ts`).
 *
 * A real App runs its real route, pipeline, acknowledger and publisher over a minimal in-process
 * stand-in for amqplib's channel (swapped in through the transport's internal connect seam, as
 * weir/testing does); the raw side is the raw runner's callback over the same deliveries. Deliveries
 * arrive in bursts with one event-loop turn between them, as socket reads hand them over, and
 * publishes are confirmed once per turn. What is left is JavaScript: the difference between the two
 * columns is what weir adds per message, free of the broker's noise and modes (see
 * docs/performance.md). It takes a few seconds.
 */
import { EventEmitter } from "node:events";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { ChannelModel, ConsumeMessage, Options } from "amqplib";
import { pino } from "pino";
import { appTransports } from "../src/core/application.js";
import { type AMQPMessage, App, RouteTypes } from "../src/index.js";
import type { ConnectFunction } from "../src/transports/amqp/options.js";
import { type AMQPTransport, amqpInternals } from "../src/transports/amqp/transport.js";
import { benchBody, MEASURED_PUBLISH_PROPERTIES } from "./lib/spec.js";

type Deliver = (message: ConsumeMessage | null) => void;
type Confirm = (error: Error | null) => void;

/** The part of amqplib's Channel / ConfirmChannel that weir calls, doing nothing but counting. */
class FakeChannel extends EventEmitter {
  readonly consumers = new Map<string, Deliver>();
  ackFrames = 0;
  private confirms: Confirm[] = [];
  private readonly confirmAll = (): void => {
    const confirms = this.confirms;
    this.confirms = [];
    for (const confirm of confirms) confirm(null);
  };

  async prefetch(): Promise<void> {}
  async checkQueue(queue: string) {
    return { queue, messageCount: 0, consumerCount: 0 };
  }
  async consume(queue: string, deliver: Deliver) {
    this.consumers.set(queue, deliver);
    return { consumerTag: `micro.${queue}` };
  }
  async cancel(consumerTag: string) {
    return { consumerTag };
  }
  async close(): Promise<void> {
    this.emit("close");
  }
  async waitForConfirms(): Promise<void> {}
  ack(): void {
    this.ackFrames++;
  }
  reject(): void {}
  nack(): void {}
  publish(_exchange: string, _routingKey: string, _content: Buffer, _options: unknown, confirm: Confirm) {
    // The broker confirms a window of publishes per turn of the event loop.
    if (this.confirms.push(confirm) === 1) setImmediate(this.confirmAll);
    return true;
  }
}

class FakeModel extends EventEmitter {
  readonly channels: FakeChannel[] = [];
  async createChannel(): Promise<FakeChannel> {
    const channel = new FakeChannel();
    this.channels.push(channel);
    return channel;
  }
  async createConfirmChannel(): Promise<FakeChannel> {
    return this.createChannel();
  }
  async close(): Promise<void> {}
}

const QUEUE = "micro";
const BODIES = Array.from({ length: 1024 }, (_, i) => Buffer.from(JSON.stringify(benchBody(10_000 + i))));

/** A delivery shaped like amqplib's, tags from 1 per channel. */
function delivery(tag: number): ConsumeMessage {
  return {
    fields: { deliveryTag: tag, redelivered: false, exchange: "", routingKey: QUEUE, consumerTag: "micro" },
    properties: {
      contentType: "application/json",
      contentEncoding: undefined,
      headers: {},
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
    },
    content: BODIES[tag & 1023]!,
  };
}

interface Cost {
  wallUs: number;
  cpuUs: number;
}

/** Best of several rounds of `n` messages, after a warm-up round: µs per message. */
async function measure(round: (n: number) => Promise<void>, n: number): Promise<Cost> {
  await round(n / 4);
  let best: Cost = { wallUs: Number.POSITIVE_INFINITY, cpuUs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 5; i++) {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await round(n);
    const wallUs = Number(process.hrtime.bigint() - started) / 1000 / n;
    const used = process.cpuUsage(cpu);
    if (wallUs < best.wallUs) best = { wallUs, cpuUs: (used.user + used.system) / n };
  }
  return best;
}

/** Feeds `n` deliveries to `deliver` in bursts, one event-loop turn per burst. */
function feeder(deliver: () => Deliver, burst: number): (n: number) => Promise<void> {
  let tag = 0;
  return async (n) => {
    for (let sent = 0; sent < n; sent += burst) {
      const callback = deliver();
      for (let i = 0; i < burst; i++) callback(delivery(++tag));
      await nextTurn();
    }
  };
}

async function rawConsume(batch: number, burst: number, n: number): Promise<Cost> {
  const channel = new FakeChannel();
  let count = 0;
  let sum = 0;
  // The raw runner's consumer callback (bench/runners/raw.ts), verbatim in substance.
  const callback: Deliver = (message) => {
    if (message === null) return;
    const body = JSON.parse(message.content.toString("utf8")) as { id: number };
    count++;
    sum += body.id;
    if (batch === 1) channel.ack();
    else if (count % batch === 0) channel.ack();
  };
  const cost = await measure(
    feeder(() => callback, burst),
    n,
  );
  if (sum <= 0) throw new Error("raw consumer saw nothing");
  return cost;
}

/** A started App whose AMQP connection is a FakeModel. */
async function fakeApp(configure: (app: App) => void): Promise<{ app: App; model: FakeModel }> {
  const model = new FakeModel();
  const app = new App({ name: "weir-micro", logger: pino({ level: "silent" }) });
  const connect: ConnectFunction = async () => model as unknown as ChannelModel;
  (app[appTransports].get("amqp") as AMQPTransport)[amqpInternals]().useConnect(connect);
  configure(app);
  await app.start();
  return { app, model };
}

async function weirConsume(bulkSize: number, prefetch: number, burst: number, n: number): Promise<Cost> {
  let count = 0;
  const { app, model } = await fakeApp((app) => {
    app.route(
      [QUEUE],
      { type: RouteTypes.AMQP, prefetch, options: { bulkSize, bulkFlushInterval: 60_000 } },
      async (messages: AMQPMessage<{ id: number }>[]) => {
        for (const message of messages) count += message.body.id > 0 ? 1 : 0;
      },
    );
  });
  const channel = model.channels[0]!;
  const deliver = channel.consumers.get(QUEUE)!;
  const cost = await measure(
    feeder(() => deliver, burst),
    n,
  );
  if (count === 0 || channel.ackFrames === 0) throw new Error("weir consumer saw nothing");
  await app.stop();
  return cost;
}

/** Publishes `n` with at most `window` unconfirmed, the way both publish runners do. */
function publisher(publish: (id: number, done: () => void) => void, window: number) {
  return (n: number) =>
    new Promise<void>((resolve) => {
      let sent = 0;
      let confirmed = 0;
      let inFlight = 0;
      const done = (): void => {
        inFlight--;
        if (++confirmed === n) resolve();
        else pump();
      };
      const pump = (): void => {
        while (inFlight < window && sent < n) {
          inFlight++;
          publish(++sent, done);
        }
      };
      pump();
    });
}

async function rawPublish(n: number): Promise<Cost> {
  const channel = new FakeChannel();
  const properties: Options.Publish = MEASURED_PUBLISH_PROPERTIES;
  return measure(
    publisher((id, done) => {
      channel.publish("", QUEUE, Buffer.from(JSON.stringify(benchBody(id))), properties, done);
    }, 1000),
    n,
  );
}

async function weirPublish(n: number): Promise<Cost> {
  const { app } = await fakeApp(() => {});
  const cost = await measure(
    publisher((id, done) => {
      app.amqp.publish(benchBody(id), { routingKey: QUEUE }).then(done);
    }, 1000),
    n,
  );
  await app.stop();
  return cost;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200_000);
  // Bursts as the harness sees them per socket read: ~10 deliveries at prefetch 100, ~20 at 1000.
  const rows: Array<[string, Cost, Cost]> = [
    [
      "consume, bulkSize 1 / ack each, prefetch 100",
      await rawConsume(1, 10, n),
      await weirConsume(1, 100, 10, n),
    ],
    [
      "consume, bulkSize 100 / ack every 100, prefetch 1000",
      await rawConsume(100, 20, n),
      await weirConsume(100, 1000, 20, n),
    ],
    ["publish, window 1000", await rawPublish(n), await weirPublish(n)],
  ];
  console.log("| path | raw µs/msg (CPU) | weir µs/msg (CPU) | weir adds |");
  console.log("|---|---|---|---|");
  for (const [name, raw, weir] of rows) {
    console.log(
      `| ${name} | ${raw.wallUs.toFixed(3)} (${raw.cpuUs.toFixed(3)}) | ${weir.wallUs.toFixed(3)} ` +
        `(${weir.cpuUs.toFixed(3)}) | ${(weir.wallUs - raw.wallUs).toFixed(3)} |`,
    );
  }
}

await main();
