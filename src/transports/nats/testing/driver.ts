import { withTimeout } from "../../../core/deadline.js";
import type { TestDriverFactory, WaitOptions } from "../../../testing/driver.js";
import { TestClientError } from "../../../testing/errors.js";
import { encodeBody, publishMessageId } from "../client.js";
import type { NATSDeadLetter } from "../dead-letters.js";
import { declaredSubjectsOf } from "../route-spec.js";
import type { NATSTransport } from "../transport.js";
import { MemoryJetStream, type MemoryOutcome } from "./memory-port.js";

/** What `client.nats.publish` resolves with: how the message left the route. */
export interface NATSTestDelivery {
  /** The stream that stored it and its sequence there. */
  readonly stream: string;
  readonly seq: number;
  /** `"ack"` (handled, or a once-only duplicate), `"term"` (rejected, or dead-lettered). */
  readonly outcome: MemoryOutcome;
  /** JetStream's delivery count when it left (1: the first delivery; more after retries, requeues). */
  readonly attempts: number;
}

/** `client.nats`: the app's JetStream in memory. */
export interface TestNATS {
  /**
   * Publishes `body` (JSON) to `subject` in memory, starts the app if needed, and resolves once a
   * route has settled it for good (acked or terminated; retries are waited for). Rejects with
   * `WEIR_ERR_NATS_NO_STREAM` when no stream captures the subject (each route's stream captures its
   * `subjects`, else `<stream>` and `<stream>.>` with `declare: true`, else its `subject`, else
   * `<stream>.>`), and `WEIR_ERR_TEST_TIMEOUT` when it is not
   * settled in time (a partial bulk waiting for its flush, a long retry backoff).
   */
  publish(
    subject: string,
    body: unknown,
    options?: WaitOptions & {
      headers?: Record<string, string>;
      /** `Nats-Msg-Id`, as `app.nats.publish` takes it. */
      messageId?: string;
      /** @deprecated use messageId */
      msgID?: string;
    },
  ): Promise<NATSTestDelivery>;
  /** The dead letters of `stream`, as `app.nats.deadLetters` lists them. */
  deadLetters(stream: string): Promise<NATSDeadLetter[]>;
  /** The bodies a stream holds (what the app published with `app.nats.publish`, say), oldest first. */
  messages(stream: string): Promise<unknown[]>;
}

declare module "../../../testing/client.js" {
  interface TestClientTransports {
    /** NATS JetStream in memory: publish to a route's stream, read dead letters and what the app published. */
    readonly nats: TestNATS;
  }
}

/** The NATS transport's connection replaced by JetStream in memory: no server needed. */
export const natsTestDriver: TestDriverFactory<NATSTransport> = {
  type: "nats",
  optionKeys: [],
  create(transport, context) {
    const memory = new MemoryJetStream();
    transport.usePort(memory);
    const api: TestNATS = {
      async publish(subject, body, options = {}) {
        const messageId = publishMessageId(options);
        await context.start();
        const ack = await memory.publish(subject, encodeBody(body), {
          ...(options.headers === undefined ? {} : { headers: options.headers }),
          ...(messageId === undefined ? {} : { msgID: messageId }),
        });
        const timeout = options.timeout ?? 10_000;
        const settled = await withTimeout(
          memory.whenSettled(ack.stream, ack.seq),
          timeout,
          () =>
            new TestClientError(
              "WEIR_ERR_TEST_TIMEOUT",
              `the message to ${subject} (stream ${ack.stream} #${ack.seq}) was not settled within ${timeout} ms: a partial bulk waiting for its flush (bulkFlushInterval), or a retry's backoff?`,
            ),
        );
        return { stream: ack.stream, seq: ack.seq, ...settled };
      },
      deadLetters: (stream) => transport.client.deadLetters(stream),
      async messages(stream) {
        const stored = await memory.readMessages(stream, Number.MAX_SAFE_INTEGER);
        return stored.map((m) => JSON.parse(Buffer.from(m.data).toString("utf8")) as unknown);
      },
    };
    return {
      api,
      beforeStart() {
        // Each route's stream exists in memory, capturing what the route says it holds.
        for (const record of context.app.routes) {
          if (record.spec.type !== transport.type) continue;
          const route = transport.routeOf(record);
          for (const stream of route.streams) {
            void memory.ensureStream(
              stream,
              declaredSubjectsOf(route, stream) ??
                (route.subject === undefined ? [`${stream}.>`] : [route.subject]),
            );
          }
        }
      },
    };
  },
};
