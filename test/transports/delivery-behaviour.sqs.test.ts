import { afterAll, describe } from "vitest";
import { RouteTypes } from "../../src/index.js";
import { createSQSApp, rawClient, SQSQueues, sqsEmulator, sqsQueueName } from "../helpers/sqs.js";
import { commonSpec, type DeliveryFixture, deliveryBehaviour } from "./delivery-behaviour.js";

const emulator = await sqsEmulator();
afterAll(() => emulator.stop());

describe("delivery behaviour: sqs (fauxqs, an SQS emulator on 127.0.0.1)", () => {
  deliveryBehaviour((): DeliveryFixture => {
    const queues = new SQSQueues(rawClient(emulator));
    return {
      type: "sqs",
      async newSource() {
        const name = sqsQueueName("behaviour");
        // A short visibility timeout, so that a lost delete would show as a redelivery within a test.
        await queues.create(name, { VisibilityTimeout: "5" });
        return name;
      },
      makeApp: () => createSQSApp(emulator, { shutdownTimeout: 5_000 }),
      spec: (_source, o) =>
        // Short long polls: a test's stop() does not wait on them (it aborts them anyway).
        commonSpec(RouteTypes.SQS, o, { waitTime: 1_000 }),
      publish: (source, bodies) => queues.publish(source, bodies),
      backlog: (source) => queues.backlog(source),
      deadLetters: (source) => queues.peek(`${source}-dlq`),
      // The emulator's HTTP server closes (every connection drops, requests are refused for 500 ms)
      // and comes back on the same port with its queues as they were, as SQS would.
      interrupt: () => emulator.restart(500),
      async cleanup() {
        for (const url of [...queues.created]) {
          const name = url.split("/").pop()!;
          const dlq = await queues.url(`${name}-dlq`);
          if (dlq !== undefined) queues.created.push(dlq);
        }
        await queues.cleanup();
      },
    };
  });
});
