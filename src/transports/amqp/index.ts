export type { VhostConnection } from "./connection.js";
export { AMQPMessage, type RejectOptions } from "./message.js";
export type { AMQPOptions } from "./options.js";
export type { PublishOptions } from "./publisher.js";
export type { AMQPHandler, AMQPRouteOptions, AMQPRouteSpec, QueueDeclareOptions } from "./route-spec.js";
export { type AMQPClient, AMQPTransport, DEFAULT_AMQP_URL } from "./transport.js";
