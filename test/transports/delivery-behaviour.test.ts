import { describe } from "vitest";
import { RouteTypes } from "../../src/index.js";
import { Broker, createApp, dropConnections, uniqueName } from "../helpers/amqp.js";
import { queueMessages } from "../helpers/rabbitmqctl.js";
import { commonSpec, type DeliveryFixture, deliveryBehaviour, until } from "./delivery-behaviour.js";

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
      spec: (_source, o) => commonSpec(RouteTypes.AMQP, o),
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
