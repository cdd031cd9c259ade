import type { ConnectFunction } from "../../src/transports/amqp/options.js";
import type { AMQPConnection } from "../../src/transports/amqp/port.js";
import {
  type ChannelObserver,
  type MemoryConnection,
  memoryConnect,
} from "../../src/transports/amqp/testing/memory-amqp.js";
import { type BrokerObserver, MemoryBroker } from "../../src/transports/amqp/testing/memory-broker.js";
import type { BackendName } from "./backends.js";

/**
 * Which broker the AMQP behaviour tests talk to: RabbitMQ on 5672 (the default), or weir/testing's
 * in-memory broker when `WEIR_TEST_BROKER=memory` (the `amqp-memory` vitest project sets it).
 * test/helpers/amqp.ts builds apps and its `Broker` on it; test/helpers/broker-differences.ts lists
 * the cases the in-memory broker deliberately does not pass.
 */
export const TEST_BROKER: BackendName = backendFromEnv(process.env.WEIR_TEST_BROKER);

function backendFromEnv(value: string | undefined): BackendName {
  if (value === undefined || value === "" || value === "rabbitmq") return "rabbitmq";
  if (value === "memory") return "memory";
  throw new Error(`WEIR_TEST_BROKER must be "rabbitmq" or "memory", got ${JSON.stringify(value)}`);
}

/** The in-memory broker of one test file, and the connections opened to it. */
export interface MemoryBackend {
  readonly broker: MemoryBroker;
  /** Opens connections as amqplib's `connect` would, for weir's transport and the `Broker` helper. */
  readonly connect: ConnectFunction;
  /** `connect`, giving the in-memory connection's own type (its channels have `deleteExchange`). */
  open(url: string, connectionName: string): Promise<MemoryConnection>;
  /**
   * Drops (as a network failure: 320 CONNECTION_FORCED) the open connections whose
   * `connection_name` starts with `prefix`, as `rabbitmqctl close_connection` does on RabbitMQ;
   * returns how many.
   */
  drop(prefix: string): number;
  /** The sorted `connection_name`s of the open connections that start with `prefix`. */
  names(prefix: string): string[];
}

const quietBroker: BrokerObserver = { published() {}, deadLettered() {}, changed() {} };
const quietChannels: ChannelObserver = { delivered() {}, settled() {}, channelError() {} };

let shared: MemoryBackend | undefined;

/**
 * The file's in-memory broker, made on first use. vitest runs each file in its own module graph,
 * so apps and the `Broker` helper of one file share one broker, and files never see each other's.
 * A requeued message goes straight back to its queue ("redeliver"), as on RabbitMQ.
 */
export function memoryBackend(): MemoryBackend {
  if (shared !== undefined) return shared;
  const broker = new MemoryBroker(quietBroker, "redeliver");
  const connections = new Set<MemoryConnection>();
  const names = new Map<AMQPConnection, string>();
  const openConnection = memoryConnect(broker, quietChannels, connections);
  const connect: ConnectFunction = async (url, options) => {
    const connection = await openConnection(url, options);
    names.set(connection, options.clientProperties.connection_name ?? "");
    connection.on("close", () => names.delete(connection));
    return connection;
  };
  shared = {
    broker,
    connect,
    async open(url, connectionName) {
      const connection = await connect(url, { clientProperties: { connection_name: connectionName } });
      const opened = [...connections].find((each) => each === connection);
      if (opened === undefined) throw new Error("the in-memory broker lost a connection it just opened");
      return opened;
    },
    names(prefix) {
      return [...names.values()].filter((name) => name.startsWith(prefix)).sort();
    },
    drop(prefix) {
      const hit = [...connections].filter((each) => (names.get(each) ?? "").startsWith(prefix));
      for (const connection of hit) connection.drop();
      return hit.length;
    },
  };
  return shared;
}
