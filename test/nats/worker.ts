/**
 * A weir worker on NATS JetStream run as a child process by test/nats/stop.test.ts. Configured by
 * env: STREAM, CONSUMER, APP_NAME, BULK_SIZE, PREFETCH, FLUSH_MS, ACK_WAIT_MS, HANDLER_DELAY_MS,
 * WEIR_NATS_URL.
 * Prints `start <ids>` when a bulk enters the handler, `done <ids>` when it leaves it,
 * `redelivered <ids>` for the messages of a bulk JetStream delivered before, `ready` once consuming.
 */
import { App, type NATSMessage, RouteTypes } from "../../src/index.js";
import { env, workerLogger } from "../helpers/worker-env.js";

const delay = Number(env("HANDLER_DELAY_MS", "0"));
const app = new App({
  name: env("APP_NAME"),
  logger: workerLogger(),
  shutdownTimeout: 10_000,
});

app.route(
  [env("STREAM")],
  {
    type: RouteTypes.NATS,
    consumer: env("CONSUMER"),
    prefetch: Number(env("PREFETCH", "128")),
    ackWait: Number(env("ACK_WAIT_MS", "30000")),
    options: { bulkSize: Number(env("BULK_SIZE", "10")), bulkFlushInterval: Number(env("FLUSH_MS", "300")) },
  },
  async (messages: NATSMessage<{ id: number }>[]) => {
    const ids = messages.map((m) => m.body.id);
    process.stdout.write(`start ${ids.join(",")}\n`);
    const again = messages.filter((m) => m.redelivered).map((m) => m.body.id);
    if (again.length > 0) process.stdout.write(`redelivered ${again.join(",")}\n`);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    process.stdout.write(`done ${ids.join(",")}\n`);
  },
);

const running = app.run();
await app.start();
process.stdout.write("ready\n");
await running;
process.stdout.write("exit\n");
