import * as amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AMQP_URL, Broker, uniqueName } from "../helpers/amqp.js";
import { runCli } from "./helpers.js";

/** The broker's own answer: 404 NOT_FOUND on a passive declare, nothing else counts as absent. */
async function declared(queue: string): Promise<boolean> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    try {
      await channel.checkQueue(queue);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 404) return false;
      throw error;
    }
  } finally {
    await connection.close().catch(() => {});
  }
}

// Issue 13, point 8: `weir routes examples/07-retries.ts` (now 06) ran the whole payments demo (it charged,
// retried, dead-lettered) because the module started its app at import.
describe("weir routes / asyncapi never start an app (inspect-only mode)", () => {
  let broker: Broker;
  let target: string;
  const queue = uniqueName("inspect-consumed");
  const env = (): Record<string, string> => ({ EAGER_QUEUE: queue, EAGER_TARGET: target });

  beforeAll(async () => {
    broker = await Broker.connect();
    target = await broker.queue(uniqueName("inspect-target"));
  });
  afterAll(async () => {
    await broker.deleteQueue(queue).catch(() => {});
    await broker.close();
  });

  it("lists the routes of a module that runs its app and publishes at import; nothing reaches the broker", async () => {
    const result = await runCli(["routes", "test/cli/fixtures/starts-at-import.ts"], env(), 20_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`amqp\\s+${queue.replaceAll(".", "\\.")}\\s+vhost=\\/ prefetch=\\d+ bulkSize=1`),
    );
    expect(result.stdout).toMatch(/http\s+\/eager\s+methods=GET/);
    expect(result.stderr).toContain("app.run()");
    expect(result.stderr).toContain("refused");
    expect(await declared(queue)).toBe(false);
    expect(await broker.count(target)).toBe(0);
  });

  it("writes its AsyncAPI document the same way", async () => {
    const result = await runCli(["asyncapi", "test/cli/fixtures/starts-at-import.ts"], env(), 20_000);
    expect(result.code, result.stderr).toBe(0);
    const document = JSON.parse(result.stdout) as { channels: Record<string, { address: string }> };
    expect(Object.values(document.channels).map((channel) => channel.address)).toContain(queue);
    expect(await declared(queue)).toBe(false);
    expect(await broker.count(target)).toBe(0);
  });
});
