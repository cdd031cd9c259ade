import type { TransportPlugin } from "../../core/transport.js";
import type { SQSAppClient } from "./client.js";
import type { SQSOptions } from "./options.js";
import type { SQSHandler, SQSRouteSpec } from "./route-spec.js";
import { SQSTransport } from "./transport.js";

declare module "../../core/route-kinds.js" {
  interface RouteKinds<T> {
    /** An Amazon SQS route: queues in (names or URLs), bulks of messages to the handler. */
    sqs: { spec: SQSRouteSpec<T>; handler: SQSHandler<T>; standardSchema: true };
  }
}

declare module "../../app.js" {
  interface AppOptions {
    /** Where SQS routes and `app.sqs` reach Amazon SQS (or an emulator). */
    sqs?: SQSOptions;
  }
  interface AppClients {
    /** Publish to SQS queues. */
    readonly sqs: SQSAppClient;
  }
}

/** The Amazon SQS transport, registered by default. */
export const sqsTransport: TransportPlugin<SQSOptions, SQSTransport> = {
  type: "sqs",
  create: (context, options) => new SQSTransport(context, options),
};
