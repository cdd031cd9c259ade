import { amqplibConnect } from "../../src/transports/amqp/amqplib-port.js";
import { installHeaderDecoder } from "../../src/transports/amqp/field-table/frames.js";
import type { AMQPConnection } from "../../src/transports/amqp/port.js";
import { type ChannelObserver, memoryConnect } from "../../src/transports/amqp/testing/memory-amqp.js";
import { type BrokerObserver, MemoryBroker } from "../../src/transports/amqp/testing/memory-broker.js";
import { AMQP_URL, silentLogger } from "./amqp.js";

/** Which broker a test runs against: RabbitMQ on 5672 (amqplib), or weir/testing's in-memory one. */
export type BackendName = "rabbitmq" | "memory";

/** A broker behind the port (src/transports/amqp/port.ts): connections as weir opens them. */
export interface PortBackend {
  readonly name: BackendName;
  /** A new connection to the backend's `/` vhost (on the memory backend: one broker per backend). */
  connect(): Promise<AMQPConnection>;
  /** Closes every connection it opened. */
  close(): Promise<void>;
}

const quietBroker: BrokerObserver = { published() {}, deadLettered() {}, changed() {} };
const quietChannels: ChannelObserver = { delivered() {}, settled() {}, channelError() {} };

/**
 * A fresh backend. RabbitMQ connections get weir's header decoder, as weir's own connections do,
 * so both backends hand over headers the way weir reads them.
 */
export function openBackend(name: BackendName): PortBackend {
  const opened: AMQPConnection[] = [];
  let connect: () => Promise<AMQPConnection>;
  if (name === "rabbitmq") {
    connect = async () => {
      const connection = await amqplibConnect(AMQP_URL, {
        clientProperties: { connection_name: "weir-test:port" },
      });
      installHeaderDecoder(connection, silentLogger);
      return connection;
    };
  } else {
    // "redeliver": a requeued message goes straight back to its queue, as on RabbitMQ (the test
    // client's default, "hold", keeps it until the test asks).
    const broker = new MemoryBroker(quietBroker, "redeliver");
    const open = memoryConnect(broker, quietChannels, new Set());
    connect = () => open("amqp://memory/", { clientProperties: {} });
  }
  return {
    name,
    async connect() {
      const connection = await connect();
      connection.on("error", () => {});
      opened.push(connection);
      return connection;
    },
    async close() {
      for (const connection of opened.splice(0)) await connection.close().catch(() => {});
    },
  };
}
