/**
 * An Amazon SQS route (issue #20): the `orders` queue read with long polling, in bulks of up to 10,
 * retried after a backoff on SQS's own receive count, then dead-lettered to `orders-dlq`, each
 * order handled once within an hour. Loading it needs no AWS (`weir routes examples/17-sqs.ts`):
 * the AWS SDK is loaded when the app starts.
 *
 *   npx tsx examples/17-sqs.ts
 *
 * needs SQS: AWS credentials and AWS_REGION, or an emulator at WEIR_SQS_ENDPOINT (the tests use
 * fauxqs: `npx fauxqs`, then WEIR_SQS_ENDPOINT=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test
 * AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1). `declare` creates `orders` at start when it
 * is missing (as on RabbitMQ), and `orders-dlq` with it.
 */
import { z } from "zod";
import { App, ExponentialBackoff, isMainModule, RouteTypes } from "../src/index.js";

const Order = z.object({ id: z.string(), total: z.number().nonnegative() });

const endpoint = process.env.WEIR_SQS_ENDPOINT;
export const app = new App({
  name: "sqs-demo",
  sqs: { region: process.env.AWS_REGION ?? "us-east-1", ...(endpoint === undefined ? {} : { endpoint }) },
});

app.route(
  ["orders"],
  {
    type: RouteTypes.SQS,
    declare: true, // without it, a missing queue fails the start (WEIR_ERR_SQS_QUEUE_NOT_FOUND)
    schema: Order,
    // ApproximateReceiveCount is the attempt: the 5th failed receive goes to orders-dlq.
    retry: { maxAttempts: 5, backoff: new ExponentialBackoff({ floor: 5_000 }) },
    once: { ttl: 3_600_000, key: (message) => message.body.id },
    // A handler slower than the queue's visibility timeout keeps its messages hidden ("still working").
    options: { bulkSize: 10, bulkFlushInterval: 1_000 },
  },
  async (orders) => {
    for (const order of orders) {
      if (order.body.total > 10_000) order.deadLetter("needs a review");
    }
    app.logger.info({ count: orders.length }, "orders handled");
  },
);

if (isMainModule(import.meta.url)) {
  // `run()` starts the app and stops it on Ctrl-C; once started, `orders` exists: publish to it.
  const running = app.run();
  await app.start();
  await app.sqs.publish({ id: "o-1", total: 42 }, { queue: "orders" });
  await running;
}
