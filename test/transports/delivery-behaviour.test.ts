import { describe } from "vitest";
import { RouteTypes } from "../../src/index.js";
import { Broker, createApp, dropConnections, uniqueName } from "../helpers/amqp.js";
import { queueMessages } from "../helpers/rabbitmqctl.js";
import { type DeliveryFixture, deliveryBehaviour, until } from "./delivery-behaviour.js";

describe("delivery behaviour: amqp (RabbitMQ)", () => {
  deliveryBehaviour((): DeliveryFixture => {
    let broker: Broker | undefined;
    const appName = uniqueName("behaviour").replaceAll(".", "-");
    const open = async () => {
      broker ??= await Broker.connect();
      return broker;
    };
    return {
      type: "amqp",
      async newSource() {
        const b = await open();
        const queue = await b.queue(uniqueName("behaviour"));
        b.track(`${queue}.dlq`);
        return queue;
      },
      makeApp: () => createApp({ name: appName, shutdownTimeout: 5_000 }),
      spec(_source, o) {
        return {
          type: RouteTypes.AMQP,
          ...(o.prefetch === undefined ? {} : { prefetch: o.prefetch }),
          options: {
            ...(o.bulkSize === undefined ? {} : { bulkSize: o.bulkSize }),
            ...(o.bulkFlushInterval === undefined ? {} : { bulkFlushInterval: o.bulkFlushInterval }),
            ...(o.onException === undefined ? {} : { onException: o.onException }),
          },
          ...(o.schema === undefined ? {} : { schema: o.schema }),
          ...(o.once === undefined ? {} : { once: o.once }),
          ...(o.retry === undefined ? {} : { retry: o.retry }),
          ...(o.deadLetter === undefined ? {} : { deadLetter: o.deadLetter }),
        };
      },
      async publish(source, bodies) {
        await (await open()).publish(source, bodies);
      },
      backlog: (source) => queueMessages(source),
      async deadLetters(source) {
        const b = await open();
        if (!(await b.exists(`${source}.dlq`))) return [];
        // Read without removing: take them, then put them back in order.
        const messages = await b.getAll(`${source}.dlq`);
        const bodies = messages.map((m) => JSON.parse(m.content.toString()) as unknown);
        for (const m of messages)
          await b.publish(`${source}.dlq`, [m.content], { headers: m.properties.headers });
        return bodies;
      },
      async interrupt() {
        await until(
          async () => (await dropConnections(`weir:${appName}:`)) > 0,
          "weir's connections to drop",
        );
      },
      async cleanup() {
        await broker?.close();
        broker = undefined;
      },
    };
  });
});
