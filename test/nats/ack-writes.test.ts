import { Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { createNATSApp, NATSAdmin, uniqueStream } from "../helpers/nats.js";
import { until } from "../transports/delivery-behaviour.js";

/**
 * How many socket writes a route's acks take, counted on the real connection (this file runs in a
 * process of its own: vitest's forks pool). The acks of the bulks that arrive together go out
 * together (src/transports/nats/acknowledger.ts): a route with `bulkSize` 1 that wrote each ack
 * on its own ran at 0.45× a raw client with 112× its writes.
 */
describe("nats: acks share socket writes", () => {
  let admin: NATSAdmin;
  const apps: App[] = [];
  const writes = { withAcks: 0, acks: 0 };
  const write = Socket.prototype.write;

  beforeEach(async () => {
    admin = await NATSAdmin.connect();
    Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket["write"]>): boolean {
      const [data] = args;
      if (data instanceof Uint8Array) {
        const acks =
          Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1").split("+ACK").length -
          1;
        if (acks > 0) {
          writes.withAcks++;
          writes.acks += acks;
        }
      }
      return write.apply(this, args);
    } as Socket["write"];
  });
  afterEach(async () => {
    Socket.prototype.write = write;
    await Promise.all(apps.splice(0).map((a) => a.stop()));
    await admin.close();
  });

  for (const bulkSize of [1, 100]) {
    it(`bulkSize ${bulkSize}: 2,000 waiting messages are acked in far fewer writes than messages`, async () => {
      const stream = await admin.stream(uniqueStream(`writes${bulkSize}`));
      const bodies = Array.from({ length: 2_000 }, (_, id) => ({ id }));
      // Published in parallel batches: the admin's publishes carry no "+ACK".
      for (let i = 0; i < bodies.length; i += 200)
        await Promise.all(
          bodies.slice(i, i + 200).map((body) => admin.js.publish(`${stream}.m`, JSON.stringify(body))),
        );
      const app = createNATSApp({ name: uniqueStream("writes") });
      apps.push(app);
      let handled = 0;
      app.route(
        [stream],
        { type: RouteTypes.NATS, consumer: "writer", prefetch: 500, options: { bulkSize } },
        async (messages) => {
          handled += messages.length;
        },
      );
      writes.withAcks = 0;
      writes.acks = 0;
      await app.start();
      await until(() => handled === 2_000, "2,000 handled", 20_000);
      await until(async () => (await admin.backlog(stream, "writer")) === 0, "nothing pending", 10_000);
      expect(writes.acks).toBe(2_000);
      // One write per socket read's worth of messages (tens to hundreds), not one per message.
      expect(writes.withAcks).toBeLessThan(200);
    });
  }
});
