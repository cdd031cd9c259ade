/**
 * NATS JetStream (issue #20): a route reads the stream `WEIR_DEMO_ORDERS` through a durable pull
 * consumer, in bulks, with retries (`nak` with the backoff's delay) and a dead-letter stream;
 * `app.nats.publish` resolves once the stream stored the message (its publish ack).
 *
 * The route creates the stream when it is missing (`subjects`). The demo publishes 10 orders, one
 * of which always fails: it is tried 3 times, then lands in `WEIR_DEMO_ORDERS-dlq` (subject
 * `weir.dlq.WEIR_DEMO_ORDERS`). See it with `weir dlq --transport nats list WEIR_DEMO_ORDERS`.
 * Moving this worker from RabbitMQ is the route's `type` and the app's options; the handler stays.
 *
 *   npx tsx examples/16-nats-jetstream.ts      (needs nats-server -js on 127.0.0.1:4222, or WEIR_NATS_URL)
 */
import { App, ConstantBackoff, isMainModule, type NATSMessage, RouteTypes } from "../src/index.js";

const ORDERS = "WEIR_DEMO_ORDERS";

export const app = new App({
  name: "nats-demo",
  nats: { servers: process.env.WEIR_NATS_URL ?? "127.0.0.1:4222" },
});

interface Order {
  id: number;
  total: number;
}

app.route(
  [ORDERS],
  {
    type: RouteTypes.NATS,
    // Created with these subjects when missing; an existing stream is used as it is.
    subjects: ["weir.demo.orders.>"],
    // Up to 5 orders per call (and at most 20 unacknowledged: max_ack_pending).
    prefetch: 20,
    options: { bulkSize: 5, bulkFlushInterval: 200 },
    // Three deliveries in all, 500 ms apart (JetStream redelivers: nothing waits in memory).
    retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 500, floor: 0 }) },
  },
  async (orders: NATSMessage<Order>[]) => {
    for (const order of orders) {
      // One message fails alone; the others of the bulk are acked.
      if (order.body.total < 0) {
        order.retry({ reason: `order ${order.body.id} has a negative total` });
        continue;
      }
      app.logger.info({ id: order.body.id, subject: order.subject, attempt: order.attempt }, "order handled");
    }
  },
);

async function demo(): Promise<void> {
  for (let id = 1; id <= 10; id++) {
    const ack = await app.nats.publish(
      { id, total: id === 7 ? -1 : id * 10 },
      { subject: `weir.demo.orders.${id}` },
    );
    app.logger.info({ stream: ack.stream, seq: ack.seq }, "published");
  }
  // Bounded wait for the failing order's three attempts.
  for (let i = 0; i < 50 && (await app.nats.deadLetters(ORDERS)).length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const letters = await app.nats.deadLetters(ORDERS);
  app.logger.info(
    { deadLetters: letters.map((l) => ({ body: l.body, reason: l.reason })) },
    "done; stopping",
  );
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
