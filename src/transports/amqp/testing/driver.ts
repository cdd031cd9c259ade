import { knownKeys } from "../../../core/validate.js";
import type { TestDriverFactory } from "../../../testing/driver.js";
import type { AMQPRouteSpec, QueueDeclareOptions } from "../route-spec.js";
import { type AMQPTransport, amqpInternals } from "../transport.js";
import { createTestAMQP, type TestAMQP, Tracker } from "./amqp-client.js";
import { attributed } from "./attribution.js";
import { type MemoryConnection, memoryConnect } from "./memory-amqp.js";
import { MemoryBroker, queueSettings, type RequeuePolicy } from "./memory-broker.js";

declare module "../../../testing/client.js" {
  interface TestClientOptions {
    /**
     * Queues that exist before the app starts, as your ops or migrations create them in production,
     * with their arguments (a dead-letter exchange, a TTL, ...). A queue a route consumes without
     * `declare` is created anyway (durable, no arguments) unless listed here.
     * @defaultValue none beyond the routes' queues
     */
    queues?: Record<string, QueueDeclareOptions & { vhost?: string }>;
    /**
     * What the broker does with a message weir requeues: `"hold"` keeps it aside (its delivery
     * resolves as `requeue`; `client.amqp.redeliver()` sends it again), `"redeliver"` puts it back on
     * its queue at once, as RabbitMQ does (a handler that always throws then loops, as in production).
     * @defaultValue "hold"
     */
    requeue?: RequeuePolicy;
  }
  interface TestClientTransports {
    /** The in-memory RabbitMQ: deliver, redeliver, read what was published and settled. */
    readonly amqp: TestAMQP;
  }
}

const QUEUE_KEYS = ["durable", "exclusive", "autoDelete", "arguments", "vhost"];

/** The AMQP transport on weir/testing's in-memory broker, each handler call in its own async context. */
export const amqpTestDriver: TestDriverFactory<AMQPTransport> = {
  type: "amqp",
  optionKeys: ["queues", "requeue"],
  create(transport, context) {
    const queues = (context.options.queues ?? {}) as Record<string, QueueDeclareOptions & { vhost?: string }>;
    for (const [name, declared] of Object.entries(queues)) knownKeys(`queues.${name}`, declared, QUEUE_KEYS);
    const internals = transport[amqpInternals]();
    const tracker = new Tracker();
    const broker = new MemoryBroker(
      tracker,
      (context.options.requeue as RequeuePolicy | undefined) ?? "hold",
    );
    tracker.broker = broker;
    const connections = new Set<MemoryConnection>();
    internals.useConnect(memoryConnect(broker, tracker, connections));
    // Each handler call runs in an async context naming its deliveries: what it publishes is theirs.
    internals.wrapHandlers((handler) => attributed(handler, tracker, tracker));
    const api = createTestAMQP(broker, tracker, internals.defaultVhost, context.start, () => {
      for (const connection of [...connections]) connection.drop();
    });
    return {
      api,
      beforeStart() {
        for (const [name, declared] of Object.entries(queues)) {
          const { vhost, ...settings } = declared;
          broker.assertQueue(vhost ?? internals.defaultVhost, name, queueSettings({ ...settings }));
        }
        for (const record of context.app.routes) {
          if (record.spec.type !== "amqp") continue;
          const spec = record.spec as AMQPRouteSpec;
          if (spec.declare !== undefined && spec.declare !== false) continue;
          const vhost = spec.vhost ?? internals.defaultVhost;
          // A stream route's queue is a stream (issue #18).
          const settings = queueSettings(
            spec.stream === undefined ? {} : { arguments: { "x-queue-type": "stream" } },
          );
          for (const queue of record.routes) {
            if (broker.findQueue(vhost, queue) === undefined) broker.assertQueue(vhost, queue, settings);
          }
        }
      },
      afterClose() {
        broker.close();
      },
    };
  },
};
