/**
 * A pure AMQP worker with /health, /ready and Prometheus metrics on http://127.0.0.1:9100, plus a
 * Timeit feeding a histogram of its own. Needs RabbitMQ on 127.0.0.1:5672 (or WEIR_AMQP_URL).
 *
 *   npx tsx examples/07-observability.ts          (or: weir run examples/07-observability.ts)
 *   curl -i http://127.0.0.1:9100/ready
 *   curl http://127.0.0.1:9100/metrics | grep ^weir_
 *
 * Without `observability` this worker would open no port at all. Stop it with Ctrl-C.
 */
import { Histogram } from "prom-client";
import { type AMQPMessage, App, isMainModule, RouteTypes, timeitToHistogram } from "../src/index.js";
import { Timeit } from "../src/utils/index.js";

const QUEUE = "weir.demo.observed";
export const app = new App({
  name: "observed-worker",
  http: { port: 9100 },
  // `tracing: true` would add OpenTelemetry spans; they are recorded once an SDK is registered.
  observability: { health: true, metrics: true },
});

// The App's own registry: your metrics are served beside weir's on /metrics.
const steps = new Histogram({
  name: "demo_step_duration_seconds",
  help: "Steps of handling one bulk of the demo queue.",
  labelNames: ["transaction", "result"],
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
  registers: app.metrics ? [app.metrics] : [],
});
const timeit = new Timeit({ name: "bulk", callback: timeitToHistogram(steps, { resultLabel: "result" }) });

app.route(
  [QUEUE],
  { type: RouteTypes.AMQP, declare: true, options: { bulkSize: 10, bulkFlushInterval: 500 } },
  async (messages: AMQPMessage<{ n: number }>[]) => {
    await timeit.run(async (t) => {
      await t.child("validate").run(() => messages.filter((m) => Number.isInteger(m.body.n)));
      await t.child("store").run(() => new Promise((resolve) => setTimeout(resolve, 5)));
    });
  },
);

// Traffic for the demo queue, from a periodic task: it starts once the app has started, under
// `weir run` as well, and stops before the connections close.
let n = 0;
app.runEvery(100, async function demoTraffic() {
  await app.amqp.publish({ n: n++ }, { routingKey: QUEUE });
});

if (isMainModule(import.meta.url)) await app.run();
