import type { TestDriverFactory } from "../../../testing/driver.js";
import { publishTo, type SQSPublishOptions } from "../client.js";
import { defaultDeadLetterQueue } from "../names.js";
import type { SQSTransport } from "../transport.js";
import { MemorySQS } from "./memory-sqs.js";

/** `client.sqs`: SQS in memory for the app's SQS routes and `app.sqs.publish`. */
export interface TestSQS {
  /** Starts the app, then sends `body` (as JSON) to `queue` (a name); resolves with its `MessageId`. */
  publish(queue: string, body: unknown, options?: Omit<SQSPublishOptions, "queue">): Promise<string>;
  /** The JSON bodies `queue` holds, received or not, oldest first. */
  messages(queue: string): unknown[];
  /** The JSON bodies in `queue`'s weir dead-letter queue (`<queue>-dlq`, `<name>-dlq.fifo` for a FIFO queue, or `deadLetterQueue`). */
  deadLetters(queue: string, deadLetterQueue?: string): unknown[];
  /**
   * Resolves once `queue` holds nothing that is being handled (every message deleted, waiting out
   * a retry delay, or visible again); rejects after `timeout` ms (default 10 000).
   */
  settled(queue: string, options?: { timeout?: number }): Promise<void>;
  /** The in-memory SQS itself. */
  readonly sqs: MemorySQS;
}

declare module "../../../testing/client.js" {
  interface TestClientTransports {
    /** SQS in memory: publish to a route's queue, read its messages and dead letters. */
    readonly sqs: TestSQS;
  }
}

const parse = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
};

/** The SQS transport's queues served from memory: no AWS, no emulator. */
export const sqsTestDriver: TestDriverFactory<SQSTransport> = {
  type: "sqs",
  optionKeys: [],
  create(transport, context) {
    const sqs = new MemorySQS();
    const previous = transport.portFactory;
    transport.portFactory = async () => sqs;
    const api: TestSQS = {
      sqs,
      async publish(queue, body, options = {}) {
        await context.start();
        return publishTo(async () => sqs, body, { ...options, queue });
      },
      messages: (queue) => sqs.bodies(queue).map(parse),
      deadLetters: (queue, dlq) => sqs.bodies(dlq ?? defaultDeadLetterQueue(queue)).map(parse),
      async settled(queue, options = {}) {
        const end = Date.now() + (options.timeout ?? 10_000);
        while (sqs.inFlight(queue) > 0) {
          if (Date.now() > end) throw new Error(`timed out waiting for ${queue} to settle`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      },
    };
    return {
      api,
      afterClose() {
        transport.portFactory = previous;
      },
    };
  },
};
