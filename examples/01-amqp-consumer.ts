/**
 * The demo worker behind `npm start`: consumes orders from RabbitMQ in bulks of up to 5, and
 * publishes a few demo orders itself (one of them broken) so there is something to see.
 * Needs RabbitMQ on 127.0.0.1:5672 (or WEIR_AMQP_URL). Stop it with Ctrl-C: it drains and exits.
 *
 *   npx tsx examples/01-amqp-consumer.ts
 *   node --import tsx src/cli/main.ts run examples/01-amqp-consumer.ts   # the same, through `weir run`
 *
 * The module exports its app and runs it only as the entry point (`isMainModule`), so `weir routes`,
 * `weir asyncapi` and tests can import it without starting anything.
 */
import { Actions, type AMQPMessage, App, Events, isMainModule, Options, RouteTypes } from "../src/index.js";

interface Order {
  id: number;
  amount: number;
}

const QUEUE = "weir.demo.orders";
export const app = new App({ name: "demo-worker", amqp: { prefetch: 32 } });

app.route(
  [QUEUE],
  {
    type: RouteTypes.AMQP,
    declare: true, // the demo creates its queue; production queues usually exist already
    options: {
      [Options.BULK_SIZE]: 5,
      [Options.BULK_FLUSH_INTERVAL]: 1000,
      [Events.ON_SUCCESS]: Actions.ACK,
      [Events.ON_EXCEPTION]: Actions.REQUEUE,
    },
  },
  async (messages: AMQPMessage<Order>[]) => {
    let total = 0;
    for (const message of messages) {
      if (message.body.amount < 0) {
        // A per-message decision wins over the route's onSuccess.
        message.reject({ requeue: false });
        app.logger.warn({ order: message.body.id }, "refused an order with a negative amount");
        continue;
      }
      total += message.body.amount;
    }
    app.logger.info(
      { bulk: messages.length, orders: messages.map((m) => m.body.id), total },
      "handled a bulk of orders",
    );
  },
);

let nextId = 1;
async function publishOrder(amount = Math.round(Math.random() * 100)): Promise<void> {
  await app.amqp.publish({ id: nextId++, amount }, { routingKey: QUEUE });
}

// The demo's own traffic, from a periodic task: it starts once the app has started (the queue is
// declared and consumed by then), and `weir run` runs it as well. First a burst, then an order every 2 s.
let burstSent = false;
app.runEvery(2000, async function demoOrders() {
  if (burstSent) {
    await publishOrder();
    return;
  }
  burstSent = true;
  for (let i = 0; i < 7; i++) await publishOrder();
  await publishOrder(-5);
  // Not JSON: weir rejects it without requeue and logs why; the handler never sees it.
  await app.amqp.publish(Buffer.from("{broken"), { routingKey: QUEUE, contentType: "application/json" });
  app.logger.info("demo worker running; press Ctrl-C to stop");
});

if (isMainModule(import.meta.url)) await app.run(); // until SIGINT/SIGTERM, then drains and stops
