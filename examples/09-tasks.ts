/**
 * Tasks: one `app.task(...)` call defines the worker's consumer *and* gives producers a typed way
 * to enqueue work, from any process (alfred's `SQSTask`, Alsek's `Task`); each `delay()` returns a
 * handle whose `result()` waits for what the handler returned (docs/tasks.md).
 *
 *   npx tsx src/cli/main.ts run examples/09-tasks.ts --workers 4   # 4 processes share the queue
 *   npx tsx examples/09-tasks.ts 20                                # another process enqueues 20 tasks
 *   npx tsx src/cli/main.ts publish weir.example.thumbnails '{"imageId":7}'
 *
 * (With weir installed, `npx weir run examples/09-tasks.ts --workers 4`.) Every worker logs its
 * `pid` with each task it runs: watch the four of them share the work. Ctrl-C (or SIGTERM) stops
 * them all; each drains what it holds first. Needs RabbitMQ on 127.0.0.1:5672 (or WEIR_AMQP_URL)
 * and, for the runs' status and results, Redis on 127.0.0.1:6379 (or WEIR_REDIS_URL).
 * TASK_QUEUE, TASK_PREFETCH and TASK_WORK_MS change the queue, the prefetch and the simulated work.
 */
import { z } from "zod";
import { App, ExponentialBackoff, isMainModule } from "../src/index.js";

const workMs = Number(process.env.TASK_WORK_MS ?? 200);

/** The module exports the App: `weir run` starts it; a producer only publishes through it. */
export const app = new App({
  name: "tasks-example",
  // A small prefetch spreads a burst over all workers instead of the first one taking it all.
  amqp: { prefetch: Number(process.env.TASK_PREFETCH ?? 2) },
});

const Thumbnail = z.object({
  imageId: z.number().int().positive(),
  width: z.number().int().positive().default(256),
});

export const makeThumbnail = app.task(
  process.env.TASK_QUEUE ?? "weir.example.thumbnails",
  async (job, message) => {
    // `job` is the schema's output: { imageId: number; width: number }.
    await new Promise((resolve) => setTimeout(resolve, workMs));
    app.logger.info({ imageId: job.imageId, width: job.width, attempt: message.attempt }, "thumbnail made");
    return { imageId: job.imageId, path: `thumbnails/${job.imageId}-${job.width}.png` };
  },
  {
    schema: Thumbnail,
    concurrency: 2,
    // A thrown error waits on the broker (1 s, then 4 s), then goes to the dead-letter queue.
    retry: { maxAttempts: 3, backoff: new ExponentialBackoff({ floor: 1_000, factor: 250, base: 4 }) },
  },
);

export default app;

// Run directly, this file is a producer: it enqueues tasks (every third one in two seconds), waits
// for their results (while workers run) and exits.
if (isMainModule(import.meta.url)) {
  const count = Number(process.argv[2] ?? 10);
  const jobs = [];
  for (let imageId = 1; imageId <= count; imageId++) {
    // delay() resolves on the broker's confirm with the run's handle; the payload type comes from the schema.
    jobs.push(await makeThumbnail.delay({ imageId }, imageId % 3 === 0 ? { delay: 2_000 } : {}));
  }
  app.logger.info({ count }, "tasks enqueued");
  // Each result is what the handler returned, typed: { imageId: number; path: string }.
  const results = await Promise.all(jobs.map((job) => job.result({ timeout: 60_000 })));
  app.logger.info({ count: results.length, last: results.at(-1)?.path }, "results received");
  await app.stop();
}
