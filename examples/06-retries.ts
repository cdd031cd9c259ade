/**
 * Retries with backoff on the broker, a dead-letter queue with replay, once-only dedup and a schema.
 *
 * A payments worker: a flaky gateway fails some payments on their first try (they are retried after
 * a backoff, from a delay queue on the broker); one payment always fails (after 3 attempts it lands
 * in the dead-letter queue `weir.demo.payments.dlq`); one is refused for good (`UnrecoverableError`);
 * one does not match the schema; one is published twice (once-only dedup acks the copy). Then the
 * "bug" is fixed and the dead letters are replayed. It stops by itself (or on Ctrl-C).
 *
 *   npx tsx examples/06-retries.ts      (needs RabbitMQ on 127.0.0.1:5672, or WEIR_AMQP_URL)
 *
 * `weir run examples/06-retries.ts` runs the worker alone, without the scripted demo: feed it with
 * `weir publish weir.demo.payments '{"id":"flaky-1","cents":500}'`.
 */
import { z } from "zod";
import { App, ExponentialBackoff, isMainModule, RouteTypes, UnrecoverableError } from "../src/index.js";

const QUEUE = "weir.demo.payments";
const Payment = z.object({ id: z.string(), cents: z.number().int().positive() });

export const app = new App({ name: "payments-demo" });
let gatewayFixed = false;

app.route(
  [QUEUE],
  {
    type: RouteTypes.AMQP,
    declare: true,
    schema: Payment, // the handler's body type is inferred: { id: string; cents: number }
    // Attempts 1, 2, 3 with 200 ms, then 400 ms between them; the count travels in a header.
    retry: {
      maxAttempts: 3,
      backoff: new ExponentialBackoff({ factor: 100, base: 2, floor: 200, ceiling: 2000 }),
    },
    deadLetter: {}, // `weir.demo.payments.dlq` (implied by `retry`; written out for the reader)
    once: { ttl: 60_000 }, // a payment id (messageId) processed in the last minute is not charged again
  },
  async ([payment]) => {
    if (!payment) return;
    const { id, cents } = payment.body;
    if (id === "refused") throw new UnrecoverableError("card reported stolen"); // no retries
    if (id === "poison" && !gatewayFixed) throw new Error("gateway: internal error");
    if (id.startsWith("flaky") && payment.attempt === 1) throw new Error("gateway: timeout");
    app.logger.info({ id, cents, attempt: payment.attempt }, "payment charged");
  },
);

const publish = (body: unknown, messageId: string) =>
  app.amqp.publish(body, { routingKey: QUEUE, messageId });

async function waitUntil(done: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && app.status === "running" && !(await done())) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function demo(): Promise<void> {
  await app.amqp.purgeDeadLetters(QUEUE); // a clean slate if an earlier run was interrupted
  await publish({ id: "ok-1", cents: 1200 }, "ok-1");
  await publish({ id: "flaky-1", cents: 500 }, "flaky-1");
  await publish({ id: "flaky-2", cents: 700 }, "flaky-2");
  await publish({ id: "poison", cents: 990 }, "poison");
  await publish({ id: "refused", cents: 10 }, "refused");
  await publish({ id: "bad-amount", cents: -3 }, "bad-amount"); // fails the schema
  await publish({ id: "ok-1", cents: 1200 }, "ok-1"); // a duplicate: acked without charging

  // poison (3 attempts), refused and bad-amount end up as dead letters.
  await waitUntil(async () => (await app.amqp.listDeadLetters(QUEUE)).length === 3, 10_000);
  for (const letter of await app.amqp.listDeadLetters(QUEUE)) {
    app.logger.warn(
      { body: letter.body, reason: letter.reason, error: letter.error, attempts: letter.attempts },
      "dead letter",
    );
  }

  gatewayFixed = true; // "deploy the fix", then replay what the bug dead-lettered
  const { replayed } = await app.amqp.replay(QUEUE, { filter: (letter) => letter.reason === "max-attempts" });
  app.logger.info({ replayed }, "replayed the payments the gateway bug dead-lettered");
  await new Promise((resolve) => setTimeout(resolve, 500));
  app.logger.info({ health: app.health().transports[0]?.routes[0] }, "done; stopping");
  await app.amqp.purgeDeadLetters(QUEUE);
}

if (isMainModule(import.meta.url)) {
  // `run()` starts the app and stops it on Ctrl-C; `start()` again returns the same start.
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
