import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ExponentialBackoff,
  type ExponentialBackoffOptions,
  RouteTypes,
  WeirHeaders,
} from "../../src/index.js";
import { Broker, createApp, uniqueName, waitFor } from "../helpers/amqp.js";
import { queueNames } from "../helpers/rabbitmqctl.js";

interface DocumentedRetry {
  readonly source: string;
  readonly maxAttempts: number;
  readonly backoff: ExponentialBackoffOptions;
  /** The delays the text promises, in ms, one per retry. */
  readonly delays: number[];
}

/**
 * The retry example of a doc: the line with `retry: { maxAttempts, backoff: new ExponentialBackoff
 * ({...}) }` and the comment that says when the retries happen ("retried after 1 s, 2 s, ...").
 */
function documentedRetry(source: string): DocumentedRetry {
  const text = readFileSync(source, "utf8");
  const retry = /retry: \{ maxAttempts: (\d+), backoff: new ExponentialBackoff\(\{([^}]*)\}\) \}/.exec(text);
  const promised = /retried (?:in|after) ((?:\d+ s, )+\d+ s)/.exec(text);
  if (retry === null || promised === null) throw new Error(`${source}: no retry example found`);
  const backoff = Object.fromEntries(
    retry[2]!.split(",").map((entry) => {
      const [key, value] = entry.split(":").map((part) => part.trim());
      return [key!, Number(value!.replaceAll("_", ""))];
    }),
  ) as ExponentialBackoffOptions;
  const delays = promised[1]!.split(", ").map((seconds) => Number.parseInt(seconds, 10) * 1000);
  return { source, maxAttempts: Number(retry[1]), backoff, delays };
}

// Issue 13, point 9: README and docs/retries.md promised retries after 1, 2, 4, 8 s for a backoff
// whose delay queues were 2000/4000/8000/16000 (Alsek's formula: factor * base ** attempt).
describe("the documented retry timings are the delay queues a real route makes", () => {
  it.each(["README.md", "docs/retries.md"])("%s", async (source) => {
    const documented = documentedRetry(source);
    expect(documented.delays).toHaveLength(documented.maxAttempts - 1);
    const broker = await Broker.connect();
    const queue = await broker.queue(uniqueName("retry-docs"));
    const app = createApp();
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        retry: { maxAttempts: documented.maxAttempts, backoff: new ExponentialBackoff(documented.backoff) },
      },
      async () => {
        throw new Error("the charge failed");
      },
    );
    try {
      await app.start();
      // One message per retry, each arriving with the failures it had so far: every delay queue
      // the schedule uses is made at once, without waiting through the delays themselves.
      for (let failures = 0; failures < documented.maxAttempts - 1; failures++) {
        await broker.publish(queue, [{ failures }], { headers: { [WeirHeaders.ATTEMPTS]: failures } });
      }
      const expected = documented.delays.map((delay) => `${queue}.retry.${delay}`);
      await waitFor(
        async () => (await queueNames(`${queue}.retry.`)).length === expected.length,
        15_000,
        `${expected.length} delay queues`,
      );
      expect(await queueNames(`${queue}.retry.`)).toEqual([...expected].sort());
    } finally {
      await app.stop();
      for (const name of await queueNames(`${queue}.`)) await broker.deleteQueue(name).catch(() => {});
      await broker.close();
    }
  });
});
