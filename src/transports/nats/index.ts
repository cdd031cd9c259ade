/**
 * `weir/nats`: the NATS JetStream transport's public API (its plugin, route spec and handler types,
 * messages, client and errors). The root `weir` exports all of it too. Importing it does not load
 * the NATS client libraries: that happens when the app starts (or first publishes).
 */
export type { NATSClient, NATSPublishOptions } from "./client.js";
export type { NATSDeadLetter, NATSDeadLetterQuery, NATSReplayOptions } from "./dead-letters.js";
export {
  NATSConnectError,
  NATSConsumerError,
  NATSNoStreamError,
  NATSPublishError,
  NATSPublishTimeoutError,
  NATSStreamCreateError,
  NATSStreamNotFoundError,
} from "./errors.js";
export type { NATSDeadLetterReason } from "./forwarding.js";
export { DEAD_LETTER_HEADERS as NATS_DEAD_LETTER_HEADERS } from "./forwarding.js";
export { NATSMessage } from "./message.js";
export type { NATSOptions } from "./options.js";
export { natsTransport } from "./plugin.js";
export type { PublishAck as NATSPublishAck } from "./port.js";
export type {
  NATSDeadLetterOptions,
  NATSHandler,
  NATSRetryOptions,
  NATSRouteOptions,
  NATSRouteSpec,
} from "./route-spec.js";
