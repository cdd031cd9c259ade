/**
 * `weir/testing`: run an app's handlers through the real pipeline without RabbitMQ, an SSE server
 * or an open port. See docs/testing.md.
 *
 * The composition root of the test client: the only module of `testing/` that names transports; it
 * registers the built-in transports' drivers.
 */
// Side-effect imports of the drivers too: declaration files drop the value imports below (nothing
// of theirs is re-exported), and with them the drivers' additions to TestClientTransports and
// TestClientOptions (`client.amqp`, `client.sse`, `queues`, `requeue`), so a project that installed
// weir would not see them. A bare import is kept in the declaration file.
import "../transports/amqp/testing/driver.js";
import "../transports/http/testing/driver.js";
import "../transports/redis/testing/driver.js";
import "../transports/sse/testing/driver.js";
import "../transports/sqs/testing/driver.js";
import { amqpTestDriver } from "../transports/amqp/testing/driver.js";
import { httpTestDriver } from "../transports/http/testing/driver.js";
import { redisTestDriver } from "../transports/redis/testing/driver.js";
import "../transports/nats/testing/driver.js";
import { natsTestDriver } from "../transports/nats/testing/driver.js";
import { sqsTestDriver } from "../transports/sqs/testing/driver.js";
import { sseTestDriver } from "../transports/sse/testing/driver.js";
import { registerBuiltInDriver } from "./client.js";
import type { TestDriverFactory } from "./driver.js";

registerBuiltInDriver(amqpTestDriver as unknown as TestDriverFactory);
registerBuiltInDriver(httpTestDriver as unknown as TestDriverFactory);
registerBuiltInDriver(redisTestDriver as unknown as TestDriverFactory);
registerBuiltInDriver(sseTestDriver as unknown as TestDriverFactory);
registerBuiltInDriver(natsTestDriver as unknown as TestDriverFactory);
registerBuiltInDriver(sqsTestDriver as unknown as TestDriverFactory);

export type {
  DeliverOptions,
  DeliveryOutcome,
  DeliveryResult,
  ForwardedMessage,
  PublishedMessage,
  QueueLookupOptions,
  TestAMQP,
} from "../transports/amqp/testing/amqp-client.js";
export type { RequeuePolicy } from "../transports/amqp/testing/memory-broker.js";
export type { TestHTTP } from "../transports/http/testing/driver.js";
export type { NATSTestDelivery, TestNATS } from "../transports/nats/testing/driver.js";
export type { TestRedis } from "../transports/redis/testing/driver.js";
export type {
  MemoryEntry,
  RedisOutcome,
  RedisPublishResult,
} from "../transports/redis/testing/memory-redis.js";
export type { TestSQS } from "../transports/sqs/testing/driver.js";
export type {
  SSEConnectionInfo,
  SSEEmitResult,
  SSEEventInit,
  TestSSE,
} from "../transports/sse/testing/sse-client.js";
export {
  createTestClient,
  type TestClient,
  type TestClientOptions,
  type TestClientTransports,
} from "./client.js";
export type { TestDriver, TestDriverContext, TestDriverFactory, WaitOptions } from "./driver.js";
export { TestClientError } from "./errors.js";
