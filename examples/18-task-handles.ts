/**
 * Task handles (docs/tasks.md): follow a run from `delay()` to its result, chain a callback, revoke
 * a run, fire a task on a schedule and hold a lock, in one process that starts the app as a worker
 * and also produces. It prints what it sees and exits.
 *
 *   npx tsx examples/18-task-handles.ts
 *   npx tsx src/cli/main.ts routes examples/18-task-handles.ts   # the tasks and the schedule
 *
 * Needs RabbitMQ on 127.0.0.1:5672 (WEIR_AMQP_URL) and Redis on 127.0.0.1:6379 (WEIR_REDIS_URL).
 */
import { App, isMainModule } from "../src/index.js";

export const app = new App({ name: "task-handles-example" });

/** A page fetch: its result is the callback's payload. */
export const fetchPage = app.task("weir.example.pages.fetch", async (url: string) => ({
  url,
  bytes: url.length * 100,
}));

/** Indexes what fetchPage returned; runs as fetchPage's callback (`then`). */
export const indexPage = app.task<{ url: string; bytes: number }>(
  "weir.example.pages.index",
  async (page) => {
    return `${page.url}: ${page.bytes} bytes indexed`;
  },
);

/** A slow report whose handler stops when its signal aborts (a revocation, or its timeout). */
export const buildReport = app.task(
  "weir.example.reports",
  async (month: string, _message, { signal }) => {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 5_000);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
    return `report ${month}`;
  },
  // A small prefetch: runs of up to a minute each must not wait past the broker's consumer timeout.
  { timeout: 60_000, prefetch: 4 },
);

/** Every two seconds while the app runs, once per tick however many workers run it. */
export const heartbeat = app.task("weir.example.heartbeat", async (note: string) => note, { results: false });
heartbeat.schedule("*/2 * * * * *", "still here", { name: "weir.example.heartbeat" });

export default app;

if (isMainModule(import.meta.url)) {
  await app.start();
  try {
    // A run and its callback: the callback's id is known from the start. (`then` names a task, not
    // a function, so the options object is no thenable.)
    // biome-ignore lint/suspicious/noThenProperty: the option's name (issue #21); its value is a task.
    const fetched = await fetchPage.delay("https://example.com", { then: indexPage });
    console.log("fetch result:", await fetched.result({ timeout: 10_000 }));
    const { next } = await fetched.status();
    if (next !== undefined)
      console.log("callback result:", await indexPage.get(next.id).result({ timeout: 10_000 }));

    // A running run, revoked: its handler's signal aborts and the run ends as revoked.
    const report = await buildReport.delay("2026-11");
    while ((await report.status()).status !== "running")
      await new Promise((resolve) => setTimeout(resolve, 50));
    console.log("revoking a run that is", await report.revoke());
    await report.result().catch((error: { code?: string }) => console.log("report result:", error.code));
    console.log("report status:", (await report.status()).status);

    // A lock: one holder at a time across every process on this Redis.
    const answer = await app.lock("weir.example.lock", { ttl: 5_000 }).using(async () => 42);
    console.log("under the lock:", answer);
  } finally {
    await app.stop();
  }
}
