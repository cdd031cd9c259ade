import type { ConnectFunction } from "./options.js";
import type { AMQPConnection } from "./port.js";

/**
 * amqplib's `connect` behind the port. The return type is the check: the compiler accepts it only
 * while amqplib's `ChannelModel` (and the channels it creates) implement `AMQPConnection`, so an
 * amqplib upgrade that changes an operation weir uses fails the build, not a test. amqplib is
 * imported at the first connection, not with weir (issue #16): an app that never connects (weir
 * routes, a test client, an HTTP-only app) never loads it.
 */
export const amqplibConnect: ConnectFunction = async (url, socketOptions): Promise<AMQPConnection> => {
  const amqp = await import("amqplib");
  return amqp.connect(url, socketOptions);
};
