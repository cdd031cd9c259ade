import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ConstantBackoff,
  type HandlerContext,
  HandlerTimeoutError,
  RouteTypes,
  WeirHeaders,
} from "../../src/index.js";
import { Broker, createApp, sleep, uniqueName, waitFor } from "../helpers/amqp.js";

/**
 * Issue #15, kind 3 (the broker's consumer timeout turns a slow handler into an endless loop): the
 * route option `timeout` bounds each handler call. Past it the signal aborts, the call counts as
 * failed, its concurrency slot is freed and its late result is ignored.
 */

/** A handler that ignores its signal for `ms` unless told to honour it. */
function slow(ms: number) {
  const reasons: unknown[] = [];
  const starts: number[] = [];
  const handler = async (_messages: unknown[], context: HandlerContext): Promise<void> => {
    starts.push(Date.now());
    context.signal.addEventListener("abort", () => reasons.push(context.signal.reason));
    await sleep(ms);
  };
  return { handler, reasons, starts };
}

describe("handler timeout (issue #15)", () => {
  let broker: Broker;
  beforeEach(async () => {
    broker = await Broker.connect();
  });
  afterEach(async () => {
    await broker.close();
  });

  it("slow handler: a call past its timeout aborts its signal, fails (onException) and frees its slot", async () => {
    const dlx = await broker.queue(uniqueName("timeout-dlx"));
    const queue = await broker.queue(uniqueName("timeout"), {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": dlx,
    });
    await broker.publish(queue, [{ n: 1 }, { n: 2 }]);
    const app = createApp({ shutdownTimeout: 1000 });
    const { handler, reasons, starts } = slow(3000);
    app.route([queue], { type: RouteTypes.AMQP, options: { timeout: 300, onException: "reject" } }, handler);
    await app.start();
    await waitFor(async () => (await broker.count(dlx)) === 2, 5000, "both rejected to the DLX");
    await app.stop();
    // concurrency 1: the second call started when the first timed out, not when it returned.
    expect(starts).toHaveLength(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(250);
    expect(starts[1]! - starts[0]!).toBeLessThan(1500);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toBeInstanceOf(HandlerTimeoutError);
    expect(reasons[0]).toMatchObject({ code: "WEIR_ERR_HANDLER_TIMEOUT", timeoutMs: 300 });
    expect(await broker.count(queue)).toBe(0);
  });

  it("slow handler: a late accept() after the timeout is ignored; a handler that honours the signal ends at once", async () => {
    const queue = await broker.queue(uniqueName("timeout-late"));
    await broker.publish(queue, [{ n: 1 }]);
    const app = createApp({ shutdownTimeout: 1000 });
    let lateAccept: (() => void) | undefined;
    const ended: number[] = [];
    let calls = 0;
    app.route(
      [queue],
      { type: RouteTypes.AMQP, options: { timeout: 200, onException: "requeue" } },
      async ([m], { signal }) => {
        calls++;
        if (calls > 1) return; // the requeued copy succeeds
        lateAccept = () => m!.accept();
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
        ended.push(Date.now());
      },
    );
    await app.start();
    await waitFor(() => calls === 2, 5000, "the requeued copy");
    lateAccept!(); // settled already: a logged no-op, not a second frame
    await sleep(100);
    await app.stop();
    expect(ended).toHaveLength(1);
    expect(await broker.count(queue)).toBe(0);
  });

  it("slow handler: with retry, a timed-out call is a failed attempt and ends in the DLQ after maxAttempts", async () => {
    const queue = await broker.queue(uniqueName("timeout-retry"));
    broker.track(`${queue}.dlq`);
    broker.track(`${queue}.retry.50`);
    await broker.publish(queue, [{ n: 1 }]);
    const app = createApp({ shutdownTimeout: 1000 });
    const { handler, starts } = slow(2000);
    app.route(
      [queue],
      {
        type: RouteTypes.AMQP,
        options: { timeout: 200 },
        retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 50, floor: 50, ceiling: 50 }) },
      },
      handler,
    );
    await app.start();
    await waitFor(async () => (await broker.count(`${queue}.dlq`)) === 1, 8000, "the dead letter");
    await app.stop();
    expect(starts).toHaveLength(3);
    const [letter] = await broker.getAll(`${queue}.dlq`);
    expect(letter!.properties.headers).toMatchObject({
      [WeirHeaders.REASON]: "max-attempts",
      [WeirHeaders.ATTEMPTS]: 3,
      [WeirHeaders.ERROR_CODE]: "WEIR_ERR_HANDLER_TIMEOUT",
    });
  });

  it("refuses a timeout that is not a number of ms, or beyond what a timer can wait", () => {
    const app = createApp();
    for (const timeout of [0, -1, "1s", 2 ** 31]) {
      expect(() =>
        app.route(
          [uniqueName("bad")],
          { type: RouteTypes.AMQP, options: { timeout: timeout as number } },
          () => {},
        ),
      ).toThrow(expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option: "timeout" }));
    }
  });
});
