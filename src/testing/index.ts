/**
 * `weir/testing`: run an app's handlers through the real pipeline without RabbitMQ, an SSE server
 * or an open port. See docs/testing.md.
 */
export type {
  DeliverOptions,
  DeliveryOutcome,
  DeliveryResult,
  ForwardedMessage,
  PublishedMessage,
  QueueLookupOptions,
  TestAMQP,
  WaitOptions,
} from "./amqp-client.js";
export { createTestClient, type TestClient, type TestClientOptions, type TestHTTP } from "./client.js";
export { TestClientError } from "./errors.js";
export type { RequeuePolicy } from "./memory-broker.js";
export type { SSEConnectionInfo, SSEEmitResult, SSEEventInit, TestSSE } from "./sse-client.js";
