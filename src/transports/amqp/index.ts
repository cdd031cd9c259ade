/**
 * `weir/amqp`: the RabbitMQ transport's public API (its plugin, route spec and handler types,
 * messages, once-only stores, dead letters, tasks, errors, the `app.amqp` client). The root `weir`
 * exports all of it too. Importing it does not load amqplib: that happens at the first connection.
 */
export {
  MemoryOnceStore,
  type MemoryOnceStoreOptions,
} from "../../core/consume/once/memory-store.js";
export { RedisOnceStore, type RedisOnceStoreOptions } from "../../core/consume/once/redis-store.js";
export type { OnceClaim, OnceOptions, OnceState, OnceStore } from "../../core/consume/once/store.js";
export { ConsumeClosedConnectionError, StreamQueueError } from "./consume-errors.js";
export { HeaderValueError } from "./field-table/errors.js";
export type { TypedFieldValue } from "./field-table/types.js";
export { AMQPMessage, type RejectOptions, type RetryMessageOptions } from "./message.js";
export type { AMQPOptions, HostSelection } from "./options.js";
export { amqpTransport } from "./plugin.js";
export {
  type NotSentReason,
  PublishClosedError,
  PublishNackError,
  PublishNotSentError,
  PublishRejectedError,
  PublishSchemaError,
  PublishUnconfirmedError,
} from "./publish-errors.js";
export type { PublishOptions } from "./publish-options.js";
export type { QueueType } from "./queue-type.js";
export type { ReplyOptions } from "./replies.js";
export {
  RemoteError,
  type RemoteErrorBody,
  ReplyNotEnabledError,
  ReplyShapeError,
  RequestError,
  RequestLostError,
  RequestTimeoutError,
} from "./request-errors.js";
export type { RequestOptions } from "./request-options.js";
export type {
  DeadLetter,
  ListDeadLettersOptions,
  PurgeDeadLettersOptions,
  ReplayOptions,
  ReplayResult,
} from "./retry/dead-letters.js";
export { DeliveryLimitError } from "./retry/delivery-limit.js";
export {
  DeadLetterDeclareError,
  DeadLetteredError,
  DeadLetterQueueNotFoundError,
  DelayQueueDeclareError,
  InvalidBodyError,
  OnceStoreError,
  RetryNotConfiguredError,
  RetryRequestedError,
  SchemaValidationError,
} from "./retry/errors.js";
export { type DeadLetterReason, WeirHeaders } from "./retry/headers.js";
export type { DeadLetterOptions, RetryOptions } from "./retry/options.js";
export type {
  AMQPHandler,
  AMQPRouteOptions,
  AMQPRouteSpec,
  AMQPSchemaRouteSpec,
  QueueDeclareOptions,
} from "./route-spec.js";
export { StopAbandonedError } from "./stop-steps.js";
export { StreamOffsetError } from "./stream/errors.js";
export type { StreamOffset, StreamOptions } from "./stream/options.js";
export type { AMQPTaskOptions } from "./tasks.js";
export type { AMQPClient } from "./transport.js";
export type { AMQPPublisher, PublisherOptions, PublisherOverrides } from "./typed-publisher.js";
