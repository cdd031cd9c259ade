/**
 * A weir worker run as a child process by the fault tests (kill -9, SIGTERM). Configured by env:
 * QUEUE, APP_NAME, BULK_SIZE, PREFETCH, HANDLER_DELAY_MS (-1: never return), SHUTDOWN_TIMEOUT_MS;
 * STREAM_CONSUMER makes it a stream route of that consumer, reading from "first" (issue #18);
 * WEIR_AMQP_URL may be a comma-separated list, tried in order from its first URL (the cluster tests).
 * Prints one line per event on stdout: `start <ids>` when a bulk enters the handler, `done <ids>`
 * when it leaves it, `ready` once consuming, `exit` after a clean stop.
 */
import { App, RouteTypes } from "../../src/index.js";
import { env, workerLogger } from "../helpers/worker-env.js";

const delay = Number(env("HANDLER_DELAY_MS", "0"));
const app = new App({
  name: env("APP_NAME"),
  logger: workerLogger(),
  shutdownTimeout: Number(env("SHUTDOWN_TIMEOUT_MS", "30000")),
  amqp: {
    url: (process.env.WEIR_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672").split(","),
    hostSelection: "in-order",
  },
});

app.route(
  [env("QUEUE")],
  {
    type: RouteTypes.AMQP,
    prefetch: Number(env("PREFETCH", "100")),
    options: { bulkSize: Number(env("BULK_SIZE", "10")), bulkFlushInterval: 200 },
    ...(process.env.STREAM_CONSUMER !== undefined && {
      stream: { offset: "first", consumer: process.env.STREAM_CONSUMER },
    }),
  },
  async (messages) => {
    const ids = messages.map((m) => (m.body as { id: number }).id).join(",");
    process.stdout.write(`start ${ids}\n`);
    if (delay < 0) await new Promise(() => {});
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    process.stdout.write(`done ${ids}\n`);
  },
);

// run() first: it installs the SIGTERM handler before the first bulk can reach the handler (a test
// that signals on the first `start` line must find it installed); start() returns run()'s start.
const running = app.run();
await app.start();
process.stdout.write("ready\n");
await running;
process.stdout.write("exit\n");
