/**
 * `weir/sqs`: the Amazon SQS transport's public API (its plugin, route spec and handler types,
 * messages, client, errors). The root `weir` exports all of it too. Importing it does not load the
 * AWS SDK: that happens when the transport starts or first publishes.
 */
export type { SQSAppClient, SQSPublishOptions } from "./client.js";
export { SQSPublishError, SQSQueueNotFoundError } from "./errors.js";
export { SQS_ATTRIBUTES, SQSMessage } from "./message.js";
export { defaultDeadLetterQueue } from "./names.js";
export type { SQSCredentials, SQSOptions } from "./options.js";
export { sqsTransport } from "./plugin.js";
export type {
  SQSDeadLetterOptions,
  SQSDeclareOptions,
  SQSHandler,
  SQSRetryOptions,
  SQSRouteOptions,
  SQSRouteSpec,
} from "./route-spec.js";
export type { SQSTaskOptions } from "./tasks.js";
