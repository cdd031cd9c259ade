import type { Instrumentation } from "../../core/instrumentation.js";
import type { Logger } from "../../core/logger.js";
import type { AMQPConnection } from "./port.js";

/** Connection-level settings of the AMQP transport (`new App({ amqp: { ... } })`). */
export interface AMQPOptions {
  /**
   * Broker URL, or a list of URLs: one per node of a RabbitMQ cluster (docs/cluster.md). Its path
   * is the default vhost (every URL of a list must name the same one); routes on other vhosts get a
   * connection of their own. With a list, each connection tries the URLs in turn (from the one
   * `hostSelection` picks), moves on to the next at once when one fails, and backs off only after
   * a whole round failed; a connection that is lost reconnects to the next URL first. Each must be
   * `amqp://` or `amqps://`, else `new App()` throws `WEIR_ERR_INVALID_OPTION`.
   * @defaultValue `WEIR_AMQP_URL` (a comma-separated list is a list), else `amqp://guest:guest@127.0.0.1:5672`
   */
  url?: string | readonly string[];
  /**
   * Which URL of the `url` list a connection tries first: `"random"` spreads the app's connections
   * (and the replicas of a worker) over the nodes; `"in-order"` always starts at the first URL (a
   * preferred node, the others as fallbacks). Either way the next attempts go round the list in
   * order. Irrelevant with a single URL. Anything else throws `WEIR_ERR_INVALID_OPTION`.
   * @defaultValue "random"
   */
  hostSelection?: HostSelection;
  /**
   * Unacknowledged messages a route may hold at once, across all its queues (split into
   * per-consumer prefetches that add up to it). A route's own `prefetch` overrides it.
   * @defaultValue 128
   */
  prefetch?: number;
  /**
   * AMQP heartbeat in seconds; a dead TCP peer is detected after about twice this. 0 disables it.
   * @defaultValue 30
   */
  heartbeat?: number;
  /**
   * Sets TCP_NODELAY on every connection's socket (Node's `socket.setNoDelay`), so a frame is sent
   * when written instead of waiting for the previous one's TCP acknowledgement (Nagle's algorithm,
   * RFC 896). With it off, each round trip of the AMQP handshake can wait for the peer's delayed
   * acknowledgement (40 ms on Linux): a connection to a local RabbitMQ took ~50 ms with it off and
   * ~10 ms with it on (docs/performance.md, "Cold start"). The RabbitMQ Java and .NET clients and
   * Go's `net` set it by default too; `false` leaves the socket as amqplib makes it.
   * @defaultValue true
   */
  noDelay?: boolean;
  /** Reconnect backoff: exponential with full jitter between `floor` and `ceiling` (ms). */
  reconnect?: {
    /** @defaultValue 100 */
    floor?: number;
    /** @defaultValue 30000 */
    ceiling?: number;
    /**
     * Give up after this many failed attempts in a row (start() rejects, or the app stops).
     * @defaultValue Infinity
     */
    maxAttempts?: number;
  };
  /** Called after every failed connection attempt (async-worker's CONNECTION_FAIL_CALLBACK). */
  onConnectionError?: (error: Error, attempt: number) => void | Promise<void>;
  /**
   * The broker's `consumer_timeout` (ms), as the app is told it: RabbitMQ closes a channel whose
   * delivery stays unacknowledged longer (406 PRECONDITION_FAILED). weir warns at registration when
   * a route's `timeout`, `bulkFlushInterval`, `prefetch` and `concurrency` let a delivery wait
   * longer; a queue's own `x-consumer-timeout`, when the route declares it, wins.
   * @defaultValue 1800000 (30 minutes, RabbitMQ's default)
   */
  consumerTimeout?: number;
  /**
   * How long the acks of a route's channel may wait to be written together (ms). weir coalesces
   * positive settlements: those made in the same event-loop turn (`0`), or within this many ms, go
   * out as one `basic.ack` with `multiple` when they are the channel's oldest unacked deliveries
   * (AMQP 0-9-1 `basic.ack`, "multiple"), else one `basic.ack` each. A multiple ack never covers a
   * delivery still in a handler, waiting in a bulk or settled negatively; rejects and requeues are
   * written at once. A positive window trades a little latency of the ack (not of the handler) for
   * fewer frames; keep it far below `consumerTimeout`. `false` writes each bulk's acks when the
   * bulk is settled (one `multiple` ack for a bulk that holds the oldest deliveries). Acks still
   * waiting when the channel is lost are abandoned: the broker redelivers those messages, flagged
   * `redelivered` (docs/amqp.md, "Acknowledgements").
   * @defaultValue 0 (the event-loop turn)
   */
  ackWindow?: number | false;
  /**
   * How long a publish may take in all before it rejects (ms): waiting for a connection, for the
   * end of a broker alarm, for room in the publish buffer, then for the broker's confirm. A publish
   * that never got written rejects with `WEIR_ERR_PUBLISH_NOT_SENT`, one written and not confirmed
   * with `WEIR_ERR_PUBLISH_UNCONFIRMED`.
   * @defaultValue 10000
   */
  publishTimeout?: number;
  /**
   * How much each vhost's publisher may hold for the broker: messages written to the connection
   * and not confirmed yet. Beyond either limit a publish waits, unwritten, for confirms to make
   * room, up to its timeout (then `WEIR_ERR_PUBLISH_NOT_SENT`, reason `buffer-full`). It bounds the
   * memory publishing takes while the broker is slow or blocks the connection (an alarm). A single
   * message larger than `bytes` is sent when nothing else is held.
   */
  publishBuffer?: {
    /** @defaultValue 10000 */
    messages?: number;
    /** Bytes of message bodies. @defaultValue 16777216 (16 MiB) */
    bytes?: number;
  };
}

/** How a connection picks the first URL of `amqp.url` to try (`AMQPOptions.hostSelection`). */
export type HostSelection = "random" | "in-order";

/** AMQPOptions with every default applied, built once by the transport. */
export interface ResolvedAMQPOptions {
  /** The first of `urls`: its path is the default vhost. */
  readonly url: string;
  /** Every broker URL, in the order given (at least one). */
  readonly urls: readonly string[];
  readonly hostSelection: HostSelection;
  readonly prefetch: number;
  readonly heartbeat: number;
  readonly noDelay: boolean;
  readonly reconnectFloor: number;
  readonly reconnectCeiling: number;
  readonly maxAttempts: number;
  readonly onConnectionError: AMQPOptions["onConnectionError"];
  readonly publishTimeout: number;
  readonly publishBuffer: { readonly messages: number; readonly bytes: number };
  readonly consumerTimeout: number;
  readonly ackWindow: number | false;
  readonly logger: Logger;
  readonly appName: string;
  readonly instrumentation: Instrumentation;
  /**
   * @internal How connections are opened: amqplib's `connect` unless weir/testing swapped in its
   * in-memory broker (before `start()`). Mutable on purpose: every VhostConnection shares this
   * object and reads the field at each attempt, so one assignment reaches all of them.
   * @defaultValue amqplib's `connect`
   */
  connect?: ConnectFunction;
}

/**
 * How the transport opens a connection to one vhost: amqplib's `connect` behind the port
 * (amqplib-port.ts), or weir/testing's in-memory broker. Either way the result is the port.
 */
export type ConnectFunction = (
  url: string,
  socketOptions: { clientProperties: Record<string, string>; noDelay?: boolean },
) => Promise<AMQPConnection>;
