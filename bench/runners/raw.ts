/**
 * The baseline: what a careful hand-written amqplib consumer or publisher does, with nothing on top.
 * Runs in its own process (spawned by bench/run.ts) and prints one result line.
 */
import { randomUUID } from "node:crypto";
import * as amqp from "amqplib";
import {
  BENCH_URL,
  benchBody,
  type ConsumeSpec,
  MEASURED_PUBLISH_PROPERTIES,
  PUBLISH_PROPERTIES,
  type PublishSpec,
  type RunResult,
} from "../lib/spec.js";
import { instrumentConsumers, Probe, parseSpec, report, waitForGo, watchdog } from "./probe.js";

/** Named, so `rabbitmqctl list_connections` shows what it is. */
const CONNECTION_OPTIONS = { clientProperties: { connection_name: "weir-bench:raw" } };

async function consume(spec: ConsumeSpec): Promise<RunResult> {
  const probe = new Probe(spec);
  instrumentConsumers(probe, spec.n);
  const model = await amqp.connect(BENCH_URL, CONNECTION_OPTIONS);
  const channel = await model.createChannel();
  // Per-consumer QoS on one queue, as weir sets it for a single-queue route.
  await channel.prefetch(spec.prefetch);
  let count = 0;
  let sum = 0;
  const batch = spec.batch;
  const last = spec.n;
  watchdog(probe, () => count);
  await channel.consume(spec.queue, (message) => {
    if (message === null) return;
    const body = JSON.parse(message.content.toString("utf8")) as { id: number };
    count++;
    sum += body.id;
    if (batch === 1) channel.ack(message);
    else if (count % batch === 0 || count === last) channel.ack(message, true);
  });
  await probe.ended;
  await channel.close();
  await model.close();
  return probe.result(count, sum);
}

/**
 * The measured publishes' properties. WEIR_BENCH_RAW_IDS=1 adds what weir adds to every publish (a
 * `messageId` and a `timestamp`), to tell the broker's cost of those properties from the client's.
 */
const properties: () => typeof MEASURED_PUBLISH_PROPERTIES =
  process.env.WEIR_BENCH_RAW_IDS === "1"
    ? () => ({
        ...MEASURED_PUBLISH_PROPERTIES,
        messageId: randomUUID(),
        timestamp: Math.floor(Date.now() / 1000),
      })
    : () => MEASURED_PUBLISH_PROPERTIES;

async function publish(spec: PublishSpec): Promise<RunResult> {
  const probe = new Probe(spec);
  const model = await amqp.connect(BENCH_URL, CONNECTION_OPTIONS);
  const channel = await model.createConfirmChannel();
  // One unroutable publish first, as the weir side does to open its lazily created channel.
  await new Promise<void>((resolve, reject) => {
    channel.publish("", `${spec.queue}.void`, Buffer.from("{}"), PUBLISH_PROPERTIES, (error) =>
      error ? reject(error) : resolve(),
    );
  });
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
        const content = Buffer.from(JSON.stringify(benchBody(id)));
        channel.publish("", spec.queue, content, properties(), (error) => {
          if (error) return reject(error);
          inFlight--;
          confirmed++;
          sum += id;
          if (confirmed === spec.n) {
            probe.end();
            resolve();
          } else pump();
        });
      }
    };
    probe.start();
    pump();
  });
  await channel.close();
  await model.close();
  return probe.result(confirmed, sum);
}

const spec = parseSpec();
await waitForGo();
report(spec.mode === "consume" ? await consume(spec) : await publish(spec));
// An open handle (a stray timer or socket) must not keep a finished runner alive.
process.exit(0);
