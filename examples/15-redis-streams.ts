/**
 * A worker on Redis Streams: the stream `weir.demo.shipments` read through the consumer group
 * `shipping` (created at start when missing), in bulks of up to 20, with a schema, retries after a
 * backoff (waiting in the sorted set `weir.demo.shipments.retry`) and dead letters in the stream
 * `weir.demo.shipments.dlq`. Start two of them: the entries are shared between the workers of the
 * group, and if one is killed (`kill -9`), the other takes over what it held after `claimIdle`.
 *
 *   npx tsx examples/15-redis-streams.ts      (needs Redis on 127.0.0.1:6379, or WEIR_REDIS_URL)
 *
 * It publishes a shipment every 500 ms (one in seven for a carrier that is down: retried twice,
 * then dead-lettered). `weir dlq --transport redis list weir.demo.shipments` shows the dead letters,
 * `weir publish --transport redis weir.demo.shipments '{"id":1,"carrier":"ups"}'` adds one by hand.
 */
import { z } from "zod";
import { App, ExponentialBackoff, isMainModule, RouteTypes } from "../src/index.js";

const STREAM = "weir.demo.shipments";
const Shipment = z.object({ id: z.number().int(), carrier: z.enum(["ups", "dhl", "pigeon"]) });

export const app = new App({ name: "shipping-demo" });

app.route(
  [STREAM],
  {
    type: RouteTypes.REDIS,
    group: "shipping",
    prefetch: 100,
    claimIdle: 10_000, // a dead worker's entries wait at most this long for another worker
    schema: Shipment, // the body type is inferred: { id: number; carrier: "ups" | "dhl" | "pigeon" }
    retry: { maxAttempts: 3, backoff: new ExponentialBackoff({ floor: 200, ceiling: 2_000 }) },
    options: { bulkSize: 20, bulkFlushInterval: 200 },
  },
  async (shipments) => {
    for (const shipment of shipments) {
      if (shipment.body.carrier === "pigeon") {
        shipment.retry({ reason: "the pigeon carrier is down" }); // this one only; the bulk goes on
        continue;
      }
      app.logger.info({ id: shipment.body.id, attempt: shipment.attempt }, "shipment booked");
    }
  },
);

if (isMainModule(import.meta.url)) {
  let id = 0;
  let timer: NodeJS.Timeout | undefined;
  app.onStartup(async () => {
    timer = setInterval(() => {
      id++;
      const carrier = id % 7 === 0 ? "pigeon" : id % 2 === 0 ? "ups" : "dhl";
      // Entries stay in the stream once acked: trimming is the publisher's choice.
      void app.redis.publish({ id, carrier }, { stream: STREAM, maxLen: 10_000 });
    }, 500);
  });
  app.onShutdown(async () => clearInterval(timer));
  await app.run();
}
