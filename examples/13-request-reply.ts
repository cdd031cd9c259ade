/**
 * Request / reply over RabbitMQ's direct reply-to (issue #17).
 *
 * Two pricing routes answer requests: one with `m.reply()` per message, one by returning one reply
 * per message of its bulk, in order; a failure reaches the caller as a `RemoteError` with the
 * failure's code. The caller,
 * `app.amqp.request`, needs no reply queue: RabbitMQ routes each reply straight back to the channel
 * that asked, and weir matches it to its caller by `correlationId`. It stops by itself (or Ctrl-C).
 *
 *   npx tsx examples/13-request-reply.ts      (needs RabbitMQ on 127.0.0.1:5672, or WEIR_AMQP_URL)
 */
import { App, isMainModule, RemoteError, RouteTypes } from "../src/index.js";

const PRICES = "weir.demo.prices";

interface PriceRequest {
  sku: string;
}
interface Price {
  sku: string;
  cents: number | null;
}

class UnknownSku extends Error {
  readonly code = "UNKNOWN_SKU";
}

export const app = new App({ name: "pricing-demo" });

const catalogue = new Map([
  ["tea", 450],
  ["coffee", 380],
]);

// Answers each message with m.reply(): the style for handlers that go message by message.
app.route(
  [PRICES],
  {
    type: RouteTypes.AMQP,
    declare: { durable: false, autoDelete: true },
    // Reply to every message that carries `replyTo` (errors are sent without their stack).
    reply: true,
    options: { bulkSize: 20, bulkFlushInterval: 5 },
  },
  async (messages) => {
    for (const m of messages) {
      const { sku } = m.body as PriceRequest;
      m.reply({ sku, cents: catalogue.get(sku) ?? null });
    }
  },
);

// Returns one reply per message, in order; a throw answers every caller of the bulk with the error.
app.route(
  ["weir.demo.prices.strict"],
  {
    type: RouteTypes.AMQP,
    declare: { durable: false, autoDelete: true },
    reply: true,
    // A failed request is answered with its error, not requeued: its caller has the answer.
    options: { onException: "reject" },
  },
  async (messages): Promise<Price[]> =>
    messages.map((m) => {
      const { sku } = m.body as PriceRequest;
      const cents = catalogue.get(sku);
      if (cents === undefined) throw new UnknownSku(`no price for "${sku}"`);
      return { sku, cents };
    }),
);

async function demo(): Promise<void> {
  const prices = await Promise.all(
    ["tea", "coffee", "cake"].map((sku) =>
      app.amqp.request<Price>({ sku } satisfies PriceRequest, { routingKey: PRICES, timeout: 5_000 }),
    ),
  );
  app.logger.info({ prices }, "prices");
  try {
    await app.amqp.request<Price>({ sku: "cake" }, { routingKey: "weir.demo.prices.strict", timeout: 5_000 });
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
    app.logger.info({ code: error.code, remoteCode: error.remoteCode, message: error.message }, "refused");
  }
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
