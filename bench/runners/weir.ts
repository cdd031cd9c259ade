/**
 * The same work as bench/runners/raw.ts, written the way a weir user writes it: a route with a
 * handler (weir decodes the JSON and settles), and `app.amqp.publish` awaited per message.
 */
import { pino } from "pino";
import { type AMQPMessage, App, RouteTypes } from "../../src/index.js";
import {
  BENCH_URL,
  benchBody,
  type ConsumeSpec,
  type PublishSpec,
  type RunResult,
  WEIR_NO_DELAY,
} from "../lib/spec.js";
import { instrumentConsumers, Probe, parseSpec, report, waitForGo, watchdog } from "./probe.js";

interface Body {
  id: number;
}

/** The broker shows the connection as `weir:weir-bench:/`. */
const APP_NAME = "weir-bench";

async function consume(spec: ConsumeSpec): Promise<RunResult> {
  const probe = new Probe(spec);
  instrumentConsumers(probe, spec.n);
  const app = new App({
    name: APP_NAME,
    logger: pino({ level: "silent" }),
    amqp: { url: BENCH_URL, prefetch: spec.prefetch, noDelay: WEIR_NO_DELAY },
  });
  let count = 0;
  let sum = 0;
  app.route(
    [spec.queue],
    {
      type: RouteTypes.AMQP,
      prefetch: spec.prefetch,
      // The flush interval never fires in these runs: n is a multiple of the bulk size.
      options: { bulkSize: spec.batch, bulkFlushInterval: 1000 },
    },
    async (messages: AMQPMessage<Body>[]) => {
      for (const message of messages) {
        count++;
        sum += message.body.id;
      }
    },
  );
  watchdog(probe, () => count);
  await app.start();
  await probe.ended;
  await app.stop();
  return probe.result(count, sum);
}

async function publish(spec: PublishSpec): Promise<RunResult> {
  const probe = new Probe(spec);
  const app = new App({
    name: APP_NAME,
    logger: pino({ level: "silent" }),
    amqp: { url: BENCH_URL, noDelay: WEIR_NO_DELAY },
  });
  await app.start();
  // weir opens its publish channel on the first publish; open it outside the measured window (a
  // publish to no queue, so not mandatory).
  await app.amqp.publish({}, { routingKey: `${spec.queue}.void`, mandatory: false });
  let sent = 0;
  let confirmed = 0;
  let sum = 0;
  let inFlight = 0;
  watchdog(probe, () => confirmed);
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (inFlight < spec.window && sent < spec.n) {
        const id = ++sent;
        inFlight++;
        app.amqp.publish(benchBody(id), { routingKey: spec.queue }).then(() => {
          inFlight--;
          confirmed++;
          sum += id;
          if (confirmed === spec.n) {
            probe.end();
            resolve();
          } else pump();
        }, reject);
      }
    };
    probe.start();
    pump();
  });
  await app.stop();
  return probe.result(confirmed, sum);
}

const spec = parseSpec();
await waitForGo();
report(spec.mode === "consume" ? await consume(spec) : await publish(spec));
// An open handle (a stray timer or socket) must not keep a finished runner alive.
process.exit(0);
