/**
 * A weir worker on Redis Streams run as a child process by test/redis/kill.test.ts. Configured by
 * env: STREAM, APP_NAME (the group), BULK_SIZE, PREFETCH, HANDLER_DELAY_MS, CLAIM_IDLE_MS,
 * WEIR_REDIS_URL. Prints `start <ids>` when a bulk enters the handler, `done <ids>` when it leaves
 * it, `redelivered <ids>` for the entries of a bulk the group delivered before, `ready` once
 * consuming.
 */
import { App, RouteTypes } from "../../src/index.js";
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
    type: RouteTypes.REDIS,
    prefetch: Number(env("PREFETCH", "100")),
    claimIdle: Number(env("CLAIM_IDLE_MS", "1000")),
    options: { bulkSize: Number(env("BULK_SIZE", "10")), bulkFlushInterval: 200 },
  },
  async (messages) => {
    const ids = messages.map((m) => (m.body as { id: number }).id);
    process.stdout.write(`start ${ids.join(",")}\n`);
    const again = messages.filter((m) => m.redelivered).map((m) => (m.body as { id: number }).id);
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
