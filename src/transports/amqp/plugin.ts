import type { TransportPlugin } from "../../core/transport.js";
import type { AMQPOptions } from "./options.js";
import type { AMQPHandler, AMQPRouteSpec } from "./route-spec.js";
import { type AMQPClient, AMQPTransport } from "./transport.js";

declare module "../../core/route-kinds.js" {
  interface RouteKinds<T> {
    /** A RabbitMQ route: queues in, bulks of messages to the handler, acks by outcome. */
    amqp: { spec: AMQPRouteSpec<T>; handler: AMQPHandler<T>; standardSchema: true };
  }
}

declare module "../../app.js" {
  interface AppOptions {
    /** The RabbitMQ transport: URL, prefetch, heartbeat, reconnect backoff, publish timeout. */
    amqp?: AMQPOptions;
  }
  interface AppClients {
    /** Publish to RabbitMQ with publisher confirms; list, replay and purge dead letters. */
    readonly amqp: AMQPClient;
  }
}

/** The RabbitMQ transport (amqplib), registered by default. */
export const amqpTransport: TransportPlugin<AMQPOptions, AMQPTransport> = {
  type: "amqp",
  create: (context, options) => new AMQPTransport(context, options),
};
