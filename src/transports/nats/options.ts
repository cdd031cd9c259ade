import { InvalidOptionError } from "../../core/errors.js";
import { duration, knownKeys, positiveInteger } from "../../core/validate.js";

/** `new App({ nats: {...} })`: where the NATS server is and how the app talks to it. */
export interface NATSOptions {
  /**
   * The NATS server(s), `host:port` or `nats://host:port` (several: a cluster, tried in turn).
   * @defaultValue `process.env.WEIR_NATS_URL`, else `"127.0.0.1:4222"`
   */
  servers?: string | readonly string[];
  /**
   * How long (ms) a JetStream publish waits for the stream's ack (`app.nats.publish`, dead letters),
   * and how long a JetStream API call (stream and consumer info, consumer creation) may take.
   * @defaultValue 5000
   */
  timeout?: number;
  /**
   * How long (ms) `start()` waits for the first connection before it fails with
   * `WEIR_ERR_NATS_CONNECT`. Once connected, the client reconnects on its own, forever (every
   * `reconnectWait` ms, with jitter), and routes resume where their durable consumer left off.
   * @defaultValue 10000
   */
  connectTimeout?: number;
  /**
   * ms between two reconnect attempts to one server.
   * @defaultValue 1000
   */
  reconnectWait?: number;
  /**
   * Messages a route may hold unacknowledged (its consumer's `max_ack_pending`) at once, for every `nats` route that does not set its own
   * `prefetch` (a route's own wins), as `amqp.prefetch` is for AMQP routes.
   * @defaultValue 128 (a route's default)
   */
  prefetch?: number;
}

/** {@link NATSOptions} checked, defaults applied. */
export interface ResolvedNATSOptions {
  readonly servers: readonly string[];
  readonly timeout: number;
  readonly connectTimeout: number;
  readonly reconnectWait: number;
  /** The app's default for a route's `prefetch` (undefined: the route's own default). */
  readonly prefetch: number | undefined;
}

export const DEFAULT_NATS_SERVER = "127.0.0.1:4222";

/** Checks the app's `nats` options once, at `new App()`. */
export function resolveNATSOptions(options: NATSOptions | undefined): ResolvedNATSOptions {
  const given = options ?? {};
  if (typeof given !== "object" || given === null) {
    throw new InvalidOptionError("nats", `must be an object like { servers }, got ${String(given)}`);
  }
  knownKeys("nats", given, ["servers", "timeout", "connectTimeout", "reconnectWait", "prefetch"]);
  const raw = given.servers ?? process.env.WEIR_NATS_URL ?? DEFAULT_NATS_SERVER;
  const servers = (typeof raw === "string" ? raw.split(",") : [...raw]).map((server) =>
    typeof server === "string" ? server.trim() : server,
  );
  if (servers.length === 0 || servers.some((server) => typeof server !== "string" || server === "")) {
    throw new InvalidOptionError(
      "nats.servers",
      `must be a host:port (or nats://host:port) or a non-empty list of them, got ${JSON.stringify(raw)}`,
    );
  }
  return {
    servers,
    timeout: duration("nats.timeout", given.timeout, 5_000),
    connectTimeout: duration("nats.connectTimeout", given.connectTimeout, 10_000),
    reconnectWait: duration("nats.reconnectWait", given.reconnectWait, 1_000),
    prefetch: given.prefetch === undefined ? undefined : positiveInteger("nats.prefetch", given.prefetch, 1),
  };
}

/** A server list for logs and health: credentials (`nats://user:pass@host`) left out. */
export function redactServer(server: string): string {
  return server.replace(/\/\/[^@/]*@/, "//");
}
