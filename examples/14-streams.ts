/**
 * A stream route (issue #18): a RabbitMQ stream queue read from a chosen offset, in bulks, with the
 * consumer's offset kept on the broker so a restarted worker continues where it stopped.
 *
 * The route declares the stream `weir.demo.ledger` and reads it as consumer "billing" from the
 * first message the stream holds. The demo appends 10 entries, waits for them to be handled, and
 * stops; its offset is stored in the queue `weir.demo.ledger.weir-offsets.billing`. Run it again:
 * the stored offset wins over `offset: "first"`, so only the 10 new entries are handled.
 *
 *   npx tsx examples/14-streams.ts      (needs RabbitMQ on 127.0.0.1:5672, or WEIR_AMQP_URL)
 */
import { type AMQPMessage, App, isMainModule, RouteTypes } from "../src/index.js";

const LEDGER = "weir.demo.ledger";

export const app = new App({ name: "streams-demo" });

interface Entry {
  account: string;
  cents: number;
}

app.route(
  [LEDGER],
  {
    type: RouteTypes.AMQP,
    // Declared as a stream (x-queue-type: stream is added), durable.
    declare: true,
    // Where the very first run starts; later runs resume after the stored offset.
    stream: { offset: "first", consumer: "billing" },
    // Up to 5 entries per call; a partial bulk waits at most 200 ms.
    options: { bulkSize: 5, bulkFlushInterval: 200 },
    prefetch: 20,
  },
  async (messages: AMQPMessage<Entry>[]) => {
    const offsets = messages.map((m) => Number(m.headers["x-stream-offset"]));
    const total = messages.reduce((sum, m) => sum + m.body.cents, 0);
    // A thrown error is logged and the bulk is not read again (a stream keeps it: replay it by
    // reading from an offset with another consumer name if needed).
    app.logger.info({ offsets, total }, "ledger entries billed");
  },
);

async function demo(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await app.amqp.publish({ account: `acct-${i % 3}`, cents: 100 * (i + 1) }, { routingKey: LEDGER });
  }
  // Bounded wait for the route to handle and commit what was published.
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const route = app.health().transports[0]?.routes[0];
    const stream = route?.stream as { committedOffset: number | null } | undefined;
    if (route?.inFlight === 0 && stream?.committedOffset !== null && i > 5) break;
  }
  app.logger.info({ stream: app.health().transports[0]?.routes[0]?.stream }, "done; stopping");
}

if (isMainModule(import.meta.url)) {
  const running = app.run();
  await app.start();
  try {
    await demo();
  } catch (error) {
    if (app.status === "running") app.logger.error({ err: error }, "demo failed");
  }
  await app.stop();
  await running;
}
