/**
 * Typed publishers and what every publish carries (issue #17).
 *
 * A checkout publishes "order created" events to a topic exchange through a typed publisher: the
 * body type comes from its zod schema, a body the schema refuses is never sent, and its exchange,
 * routing key and headers are written once, where the publisher is made. The billing route hears
 * the events and enqueues an invoice through a second publisher, handed to it on `app.state`. Every
 * message gets a generated `messageId` (so the invoices route's `once` drops a copy sent twice) and
 * a timestamp; the invoices expire if nobody takes them within a minute. `weir routes` and
 * `weir asyncapi` list both publishers. It stops by itself (or Ctrl-C).
 *
 *   npx tsx examples/12-publishers.ts      (needs RabbitMQ on 127.0.0.1:5672, or WEIR_AMQP_URL)
 *   npx tsx src/cli/main.ts routes examples/12-publishers.ts
 */
import { z } from "zod";
import { type AMQPPublisher, App, isMainModule, PublishSchemaError, RouteTypes } from "../src/index.js";

const EVENTS = "weir.demo.shop";
const INVOICES = "weir.demo.invoices";

const OrderCreated = z.object({
  id: z.number().int().positive(),
  total: z.number().nonnegative(),
  currency: z.string().length(3),
});
const Invoice = z.object({ order: z.number().int(), total: z.number() });

interface State {
  invoices: AMQPPublisher<z.input<typeof Invoice>>;
}

export const app = new App<State>({ name: "publishers-demo" });

/** Made at module level: it opens nothing until its first publish. */
export const orderCreated = app.amqp.publisher({
  name: "orderCreated",
  exchange: EVENTS,
  routingKey: "order.created",
  schema: OrderCreated,
  headers: { "x-source": "checkout" },
});

app.state.invoices = app.amqp.publisher({
  name: "invoices",
  exchange: "",
  routingKey: INVOICES,
  schema: Invoice,
  expiration: 60_000, // an invoice nobody took within a minute is dropped (per-message TTL)
});

// Billing hears every order event and enqueues an invoice with the publisher it was handed.
app.route(
  ["weir.demo.billing"],
  {
    type: RouteTypes.AMQP,
    declare: true,
    exchanges: [{ name: EVENTS, type: "topic" }],
    bindings: [{ exchange: EVENTS, routingKey: "order.#" }],
    schema: OrderCreated,
  },
  async (messages) => {
    for (const m of messages) await app.state.invoices.publish({ order: m.body.id, total: m.body.total });
  },
);

// A copy of an invoice sent twice (same messageId) is acked without running the handler again.
app.route([INVOICES], { type: RouteTypes.AMQP, declare: true, once: { ttl: 60_000 } }, async (messages) => {
  for (const m of messages) {
    app.logger.info(
      { body: m.body, messageId: m.properties.messageId, sentAt: m.properties.timestamp },
      "invoice",
    );
  }
});

async function demo(): Promise<void> {
  await orderCreated.publish({ id: 1, total: 30, currency: "EUR" });
  // Overrides win over the publisher's defaults; headers merge.
  await orderCreated.publish(
    { id: 2, total: 12.5, currency: "EUR" },
    { routingKey: "order.created.mobile", headers: { "x-channel": "app" } },
  );
  // A producer that sends the same message twice (after an unconfirmed publish, say) reuses its
  // id: the invoices route processes it once.
  for (let i = 0; i < 2; i++)
    await app.state.invoices.publish({ order: 9, total: 1 }, { messageId: "invoice-9" });
  try {
    await orderCreated.publish({ id: 3, total: -1, currency: "EURO" });
  } catch (error) {
    if (!(error instanceof PublishSchemaError)) throw error;
    app.logger.warn({ issues: error.issues }, "refused before sending");
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
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
