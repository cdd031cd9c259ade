/**
 * weir's own cost per message on a NATS route, without a server or a socket
 * (`npx tsx bench/nats-micro.ts [--n 200000] [--bulk 100] [--burst 250] [--rounds 7]`).
 *
 * A real App runs its real `nats` route (pipeline, acknowledger, settle log) over a port
 * that hands it messages shaped like the client's `JsMsg` (wrapped as the real port wraps them, for
 * the settle log), in bursts with one event-loop turn between them as socket reads hand them over;
 * the raw side is bench/nats.ts's raw callback over the same messages (parse, batch, ack inside the
 * callback). The acks only count. The difference between the two columns is what weir adds per
 * message in JavaScript, free of the server's noise (docs/performance.md, NATS JetStream).
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { pino } from "pino";
import { appTransports } from "../src/core/application.js";
import { App, type NATSMessage, RouteTypes } from "../src/index.js";
import type {
  ConsumeEvents,
  ConsumerCounts,
  Consumption,
  JetStreamMessage,
  NATSPort,
  PublishAck,
  StoredMessage,
} from "../src/transports/nats/port.js";
import { LoggedMessage, SettleLog } from "../src/transports/nats/settle-log.js";
import type { NATSTransport } from "../src/transports/nats/transport.js";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const encoder = new TextEncoder();
const PAD = "x".repeat(80);
let acks = 0;

/** The client's send queue as weir's ack path reaches it: the frames counted as acks. */
const PUBLISHER = {
  outBytes: 0,
  outMsgs: 0,
  sendCommand(): void {
    acks++;
  },
};

/** What the client's JsMsg gives (the fields weir reads), acks counted. */
class FakeJsMsg {
  readonly subject = "bench.m";
  readonly redelivered = false;
  readonly headers = undefined;
  readonly info: { readonly deliveryCount: number; readonly stream: string };
  readonly reply: string;
  /** As the client's: weir's ack path writes the frame itself (client-internals.ts) unless acked. */
  didAck = false;
  /** The client's own message under it: the reply's bytes as its parser read them, and its send queue. */
  readonly msg: { readonly _msg: { readonly reply: Uint8Array }; readonly publisher: typeof PUBLISHER };
  constructor(
    readonly data: Uint8Array,
    readonly seq: number,
  ) {
    this.info = { deliveryCount: 1, stream: "bench" };
    this.reply = `$JS.ACK.bench.c.1.${seq}.${seq}.1764490000000000000.0`;
    this.msg = { _msg: { reply: encoder.encode(this.reply) }, publisher: PUBLISHER };
  }
  ack(): void {
    acks++;
  }
  nak(): void {}
  term(): void {}
  working(): void {}
}

function fakeMessage(seq: number): FakeJsMsg {
  // A fresh copy of the bytes, as the client's parser slices each message out of its read buffer.
  return new FakeJsMsg(encoder.encode(JSON.stringify({ id: seq, pad: PAD })), seq);
}

/** A NATSPort whose consume is fed by the bench. */
class FeedPort implements NATSPort {
  connected = true;
  server = "bench";
  reconnects = 0;
  onMessage: ((message: JetStreamMessage) => void) | undefined;
  readonly log = new SettleLog();
  async connect(): Promise<void> {}
  async streamExists(): Promise<boolean> {
    return true;
  }
  async ensureStream(): Promise<void> {}
  async ensureConsumer(): Promise<void> {}
  async consumerCounts(): Promise<ConsumerCounts> {
    return { pending: 0, ackPending: 0 };
  }
  async consume(
    _stream: string,
    _durable: string,
    _batch: number,
    events: ConsumeEvents,
  ): Promise<Consumption> {
    const log = this.log;
    this.onMessage = (message) =>
      events.onMessage(
        new LoggedMessage(message as unknown as ConstructorParameters<typeof LoggedMessage>[0], log),
      );
    return { close: async () => {} };
  }
  async publish(): Promise<PublishAck> {
    return { stream: "bench", seq: 0, duplicate: false };
  }
  async readMessages(): Promise<StoredMessage[]> {
    return [];
  }
  async deleteMessage(): Promise<void> {}
  async purgeStream(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}
}

interface Cost {
  cpuUs: number;
  wallUs: number;
}

/** Best of `rounds` rounds of `n` messages fed in bursts of `burst`, after a warm-up round. */
async function measure(feed: (message: JetStreamMessage) => void, n: number, burst: number, rounds: number) {
  let seq = 0;
  const round = async (count: number): Promise<void> => {
    for (let sent = 0; sent < count; sent += burst) {
      for (let i = 0; i < burst; i++) feed(fakeMessage(++seq) as unknown as JetStreamMessage);
      await nextTurn();
    }
    await nextTurn();
  };
  await round(n / 2);
  let best: Cost = { cpuUs: Number.POSITIVE_INFINITY, wallUs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < rounds; i++) {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await round(n);
    const wallUs = Number(process.hrtime.bigint() - started) / 1000 / n;
    const used = process.cpuUsage(cpu);
    const cpuUs = (used.user + used.system) / n;
    if (cpuUs < best.cpuUs) best = { cpuUs, wallUs };
  }
  return best;
}

interface Body {
  id: number;
  pad: string;
}

async function raw(n: number, bulk: number, burst: number, rounds: number): Promise<Cost> {
  let sum = 0;
  let batch: { msg: JetStreamMessage; body: Body }[] = [];
  // bench/nats.ts's raw callback, in substance.
  const callback = (msg: JetStreamMessage): void => {
    batch.push({ msg, body: JSON.parse(new TextDecoder().decode(msg.data)) as Body });
    if (batch.length === bulk) {
      const items = batch;
      batch = [];
      for (const item of items) sum += item.body.id;
      for (const item of items) item.msg.ack();
    }
  };
  const cost = await measure(callback, n, burst, rounds);
  if (sum <= 0) throw new Error("raw saw nothing");
  return cost;
}

async function weir(n: number, bulk: number, burst: number, rounds: number): Promise<Cost> {
  const app = new App({ name: "bench", logger: pino({ level: "silent" }), nats: { servers: "127.0.0.1:1" } });
  const port = new FeedPort();
  (app[appTransports].get("nats") as NATSTransport).usePort(port);
  let sum = 0;
  app.route(
    ["bench"],
    {
      type: RouteTypes.NATS,
      consumer: "c",
      prefetch: 500,
      options: { bulkSize: bulk, bulkFlushInterval: 50 },
    },
    async (messages: NATSMessage<Body>[]) => {
      for (const m of messages) sum += m.body.id;
    },
  );
  await app.start();
  const cost = await measure((message) => port.onMessage!(message), n, burst, rounds);
  await app.stop();
  if (sum <= 0) throw new Error("weir saw nothing");
  return cost;
}

const n = arg("n", 200_000);
const bulk = arg("bulk", 100);
const burst = arg("burst", 250);
const rounds = arg("rounds", 7);
const sides = process.argv.includes("--weir-only") ? ["weir"] : ["raw", "weir"];
for (const side of sides) {
  acks = 0;
  const cost = await (side === "raw" ? raw : weir)(n, bulk, burst, rounds);
  console.log(
    `${side.padEnd(4)} ${cost.cpuUs.toFixed(2)} µs/msg CPU, ${cost.wallUs.toFixed(2)} µs/msg wall (best of ${rounds} × ${n}, bursts of ${burst}, bulks of ${bulk}); acks ${acks}`,
  );
}
