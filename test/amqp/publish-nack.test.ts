import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { App, PublishError } from "../../src/index.js";
import { AMQP_URL, Broker, uniqueName } from "../helpers/amqp.js";
import { captureLogs } from "../helpers/logs.js";

/**
 * Issue #18: after the node holding a quorum queue's leader was SIGKILLed, RabbitMQ nacked every
 * later publish of the channel that had been publishing to it, while a new channel published fine
 * (test/cluster/failover.test.ts found it: 25,000 nacks in a row). So a publisher channel that got
 * a nack takes no more publishes. Here the nacks come from a full queue with `reject-publish`
 * overflow (a cluster is not needed to see the publisher move on to a new channel). RabbitMQ only:
 * weir/testing's broker refuses `x-overflow`.
 */
describe("a nacked publish", () => {
  let broker: Broker;
  const apps: App[] = [];
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.stop();
    await broker.close();
  });

  it("rejects with WEIR_ERR_PUBLISH_NACK; the publishes after it go out on a new channel and are confirmed", async () => {
    const queue = await broker.queue(uniqueName("nack"), {
      "x-max-length": 1,
      "x-overflow": "reject-publish",
    });
    const { logger, lines } = captureLogs("warn");
    const app = new App({ logger, amqp: { url: AMQP_URL } });
    apps.push(app);
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    const nacked = await app.amqp.publish({ n: 2 }, { routingKey: queue }).catch((error: unknown) => error);
    expect(nacked).toBeInstanceOf(PublishError);
    expect((nacked as PublishError).code).toBe("WEIR_ERR_PUBLISH_NACK");
    expect(lines.map((line) => line.msg)).toContain(
      "the broker nacked a publish; publishing goes on on a new channel",
    );
    expect(await broker.drain(queue)).toEqual([{ n: 1 }]);
    await app.amqp.publish({ n: 3 }, { routingKey: queue });
    expect(await broker.count(queue)).toBe(1);
  });
});
