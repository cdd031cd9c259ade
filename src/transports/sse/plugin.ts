import type { TransportPlugin } from "../../core/transport.js";
import type { SSEOptions } from "./options.js";
import type { SSEHandler, SSERouteSpec } from "./route-spec.js";
import { SSETransport } from "./transport.js";

declare module "../../core/route-kinds.js" {
  interface RouteKinds<T> {
    /** A Server-Sent Events route: a stream in, bulks of events to the handler. */
    sse: { spec: SSERouteSpec<T>; handler: SSEHandler<T>; standardSchema: true };
  }
}

declare module "../../app.js" {
  interface AppOptions {
    /** The default Server-Sent Events source for SSE routes. */
    sse?: SSEOptions;
  }
}

/** The Server-Sent Events transport, registered by default. */
export const sseTransport: TransportPlugin<SSEOptions, SSETransport> = {
  type: "sse",
  create: (context, options) => new SSETransport(context, options),
};
