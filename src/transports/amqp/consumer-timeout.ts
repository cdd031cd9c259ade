import { WeirError } from "../../core/errors.js";
import { brokerReason } from "./consume-errors.js";

/**
 * The broker closed a route's channel because a delivery stayed unacknowledged longer than its
 * `consumer_timeout` (406 PRECONDITION_FAILED "delivery acknowledgement ... timed out"). Logged and
 * counted, never thrown: the route re-attaches and the broker redelivers the channel's messages.
 */
export class ConsumerTimeoutError extends WeirError {
  readonly route: string;
  /** The queue of the oldest unsettled delivery, when weir knows it. */
  readonly queue: string | undefined;
  /** How long that delivery was held (ms), when weir knows it. */
  readonly heldMs: number | undefined;

  constructor(route: string, queue: string | undefined, heldMs: number | undefined, cause: unknown) {
    const held = heldMs === undefined ? "" : ` after ${heldMs} ms`;
    super(
      "WEIR_ERR_CONSUMER_TIMEOUT",
      `route "${route}": the broker closed the channel: a delivery${queue === undefined ? "" : ` of queue "${queue}"`} ` +
        `was not acknowledged within its consumer timeout${held} (${brokerReason(cause)})`,
      { cause },
    );
    this.route = route;
    this.queue = queue;
    this.heldMs = heldMs;
  }
}

/** The 406 a channel is closed with when a delivery outlived the broker's `consumer_timeout`. */
export function isConsumerTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 406 && /acknowledgement .*timed out/i.test(brokerReason(error));
}

/** RabbitMQ's default `consumer_timeout` (ms): 30 minutes. */
export const DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;

/** What a route's settings allow a delivery to be held, against the broker's consumer timeout. */
export interface ConsumerTimeoutRisk {
  /** The longest a delivery can stay unacked with these settings (ms). */
  readonly holdMs: number;
  /** The consumer timeout it is compared with (ms), and where it came from. */
  readonly consumerTimeoutMs: number;
  readonly source: "x-consumer-timeout" | "amqp.consumerTimeout";
  /** The largest prefetch that keeps `holdMs` under the consumer timeout (0: none does). */
  readonly maxPrefetch: number;
}

/**
 * Whether a route can hold a delivery longer than the broker allows. A delivery waits for its
 * bulk to fill (at most `bulkFlushInterval`, when `bulkSize` is above 1), then behind the bulks ahead of it: with `prefetch`
 * unacked messages in bulks of `bulkSize` run `concurrency` at a time, up to
 * `ceil(ceil(prefetch / bulkSize) / concurrency)` rounds of handler calls, each up to `timeout`.
 * Without a `timeout` a call is unbounded and only the flush interval can be checked.
 */
export function consumerTimeoutRisk(route: {
  readonly prefetch: number;
  readonly bulkSize: number;
  readonly concurrency: number;
  readonly flushInterval: number;
  readonly timeout: number | undefined;
  readonly queueArguments: Readonly<Record<string, unknown>> | undefined;
  readonly consumerTimeout: number;
}): ConsumerTimeoutRisk | undefined {
  const fromQueue = route.queueArguments?.["x-consumer-timeout"];
  const queueLimit = typeof fromQueue === "number" && fromQueue > 0 ? fromQueue : undefined;
  const consumerTimeoutMs = queueLimit ?? route.consumerTimeout;
  const source = queueLimit === undefined ? "amqp.consumerTimeout" : "x-consumer-timeout";
  const rounds = Math.ceil(Math.ceil(route.prefetch / route.bulkSize) / route.concurrency);
  // A bulk of one is handed over at once: the flush interval never delays it.
  const flushMs = route.bulkSize > 1 ? route.flushInterval : 0;
  const holdMs = flushMs + rounds * (route.timeout ?? 0);
  if (holdMs < consumerTimeoutMs) return undefined;
  const maxRounds =
    route.timeout === undefined ? 0 : Math.floor((consumerTimeoutMs - flushMs - 1) / route.timeout);
  const maxPrefetch = Math.max(0, maxRounds * route.concurrency * route.bulkSize);
  return { holdMs, consumerTimeoutMs, source, maxPrefetch };
}
