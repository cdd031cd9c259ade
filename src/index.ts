// Tasks' option types (docs/tasks.md); the rest of the task layer is exported from ./tasks/ below.
export type { SQSTaskDefinition, TaskOptions } from "./app.js";
export { App, type AppClients, type AppOptions, BUILT_IN_TRANSPORTS } from "./app.js";
export {
  type AsyncAPIDocument,
  type AsyncAPIOptions,
  type AsyncAPISource,
  type AsyncAPIValue,
  toAsyncAPI,
} from "./asyncapi/index.js";
export type { AppHealth, CoreOptions } from "./core/application.js";
export type { AsyncAPIBuilder } from "./core/asyncapi-builder.js";
export { BULK_DEFAULTS, type BulkOptions } from "./core/bulk-pipeline.js";
export {
  type Action,
  Actions,
  type EventName,
  Events,
  type OptionName,
  Options,
  type RouteType,
  RouteTypes,
} from "./core/constants.js";
// The delivery model, for transport authors (docs/architecture.md, "The delivery model").
export type { Acknowledger, Forwarding, ForwardTarget } from "./core/consume/acknowledger.js";
export type { WeirDeadLetterReason } from "./core/consume/dead-letter-reason.js";
export { Delivery, type Redirect } from "./core/consume/delivery.js";
export { onceOption, type ResolvedOnce } from "./core/consume/once/options.js";
export { DeliveryPolicy, type HandlerOutcome, type PolicySettings } from "./core/consume/policy.js";
export type { BulkHandler, ConsumerRoute } from "./core/consume/route.js";
export { RouteRunner, type RouteRunnerOptions, type RouteSource } from "./core/consume/route-runner.js";
export type { Deadline } from "./core/deadline.js";
export { ERROR_CODES, type WeirErrorCode } from "./core/error-codes.js";
export {
  ConfigurationError,
  ConnectionError,
  InvalidHandlerError,
  InvalidOptionError,
  LifecycleError,
  PublishError,
  StartError,
  UnrecoverableError,
  WeirError,
} from "./core/errors.js";
export { type HandlerContext, HandlerTimeoutError, handlerTimeoutOption } from "./core/handler-call.js";
export type { Hook } from "./core/hooks.js";
export { InspectOnlyError } from "./core/inspect.js";
export type { HandlerCall, Instrumentation, PublishCall, SettleOutcome } from "./core/instrumentation.js";
export type { Logger } from "./core/logger.js";
export { redactUrl } from "./core/logger.js";
export { isMainModule } from "./core/main-module.js";
export type { PeriodicTask, RunEveryOptions } from "./core/periodic-task.js";
export type { RouteKind, RouteKinds, RouteMethod } from "./core/route-kinds.js";
export type { SchemaIssue, SchemaOutput, StandardSchemaV1 } from "./core/schema.js";
export { schemaOption } from "./core/schema.js";
export { commonTaskRouteFields, taskRouteHandler } from "./core/task-route.js";
export type {
  ConnectionHealth,
  DegradedHealth,
  EndpointHost,
  JSONValue,
  PublicationDescription,
  RouteDescription,
  RouteHealth,
  RouteRecord,
  TaskCarrier,
  TaskDelivery,
  TaskRun,
  TaskSender,
  TaskSendOptions,
  Transport,
  TransportContext,
  TransportHealth,
  TransportPlugin,
  TransportRole,
} from "./core/transport.js";
// Option checks that throw weir's coded InvalidOptionError, for transport authors' route specs.
export { duration, knownKeys, positiveInteger } from "./core/validate.js";
export * from "./observability/index.js";
export {
  TaskFailedError,
  TaskPayloadError,
  TaskPriorityError,
  TaskResultError,
  TaskResultsDisabledError,
  TaskResultTimeoutError,
  TaskRevokedError,
  TaskStoreError,
  TaskTransportError,
  TaskUnknownError,
} from "./tasks/errors.js";
export type { ResultOptions, TaskHandle } from "./tasks/handle.js";
// Locks and schedules on Redis (docs/tasks.md), usable without an app.
export * from "./tasks/lock.js";
export type { CommonTaskOptions, TaskResultsOptions } from "./tasks/options.js";
export type { TaskFailure, TaskRecord, TaskRef, TaskStatus } from "./tasks/record.js";
export * from "./tasks/redis-connection.js";
export * from "./tasks/schedule.js";
export type { DelayArguments, DelayOptions, Task, TaskHandler, TaskScheduleOptions } from "./tasks/task.js";
// Each transport's public API, also its own subpath (`weir/amqp`, `weir/http`, `weir/sse`).
export * from "./transports/amqp/index.js";
export * from "./transports/http/index.js";
export * from "./transports/nats/index.js";
export * from "./transports/redis/index.js";
export * from "./transports/sqs/index.js";
export * from "./transports/sse/index.js";
// The utils' own `Action` (an ActionQueue step) would clash with the route `Action` above; an
// explicit export always wins over `export *`, so it is offered under a name of its own.
export type { Action as RollbackAction } from "./utils/action-queue.js";
export * from "./utils/index.js";
