import type { TransportPlugin } from "../../core/transport.js";
import type { NATSClient } from "./client.js";
import type { NATSOptions } from "./options.js";
import type { NATSHandler, NATSRouteSpec } from "./route-spec.js";
import { NATSTransport } from "./transport.js";

declare module "../../core/route-kinds.js" {
  interface RouteKinds<T> {
    /** A NATS JetStream route: streams in (durable pull consumers), bulks of messages to the handler. */
    nats: { spec: NATSRouteSpec<T>; handler: NATSHandler<T>; standardSchema: true };
  }
}

declare module "../../app.js" {
  interface AppOptions {
    /** The NATS server for NATS JetStream routes and `app.nats.publish`. */
    nats?: NATSOptions;
  }
  interface AppClients {
    /** Publishes to JetStream with publish acks. */
    readonly nats: NATSClient;
  }
}

/** The NATS JetStream transport, registered by default. */
export const natsTransport: TransportPlugin<NATSOptions, NATSTransport> = {
  type: "nats",
  create: (context, options) => new NATSTransport(context, options),
};
