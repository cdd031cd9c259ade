/**
 * The demo worker behind `npm start`: consumes orders from RabbitMQ in bulks of up to 5, and
 * publishes a few demo orders itself (one of them broken) so there is something to see.
 * Needs RabbitMQ on 127.0.0.1:5672 (or WEIR_AMQP_URL). Stop it with Ctrl-C: it drains and exits.
 */
import { Actions, type AMQPMessage, App, Events, Options, RouteTypes } from "../src/index.js";

interface Order {
  id: number;
  amount: number;
}

const QUEUE = "weir.demo.orders";
const app = new App({ name: "demo-worker", amqp: { prefetch: 32 } });

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

let ticker: NodeJS.Timeout | undefined;
app.onShutdown(() => clearInterval(ticker));

await app.start(); // declares the queue and starts consuming
for (let i = 0; i < 7; i++) await publishOrder();
await publishOrder(-5);
// Not JSON: weir rejects it without requeue and logs why; the handler never sees it.
await app.amqp.publish(Buffer.from("{broken"), { routingKey: QUEUE, contentType: "application/json" });
ticker = setInterval(() => {
  publishOrder().catch((error: unknown) => app.logger.error({ err: error }, "demo publish failed"));
}, 2000);
app.logger.info("demo worker running; press Ctrl-C to stop");
await app.run(); // keeps running until SIGINT/SIGTERM, then drains and stops
