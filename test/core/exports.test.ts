import { describe, expect, it } from "vitest";
import * as weir from "../../src/index.js";

describe("the package root", () => {
  it.each([
    "App",
    "RouteTypes",
    "Options",
    "Events",
    "Actions",
    "WeirError",
    "UnrecoverableError",
    "AMQPMessage",
    "Timeit",
    "ActionQueue",
    "ActionRetryError",
    "DoublingBackoff",
    "ConstantBackoff",
    "LinearBackoff",
    "ExponentialBackoff",
    "basicAuth",
    "cachedBasicAuth",
    "jwtAuth",
    "hashPassword",
    "isMainModule",
    "InspectOnlyError",
    // The seam and the delivery model, for transport authors (issue #16).
    "BUILT_IN_TRANSPORTS",
    "amqpTransport",
    "httpTransport",
    "sseTransport",
    "redisTransport",
    "RedisMessage",
    "Delivery",
    "DeliveryPolicy",
    "RouteRunner",
    "onceOption",
    "SSEEvent",
  ])("exports %s", (name) => {
    expect(Object.hasOwn(weir, name)).toBe(true);
  });

  // Issue #16: the root is the public API. Transports are reached through their plugins
  // (amqpTransport, ...), not their classes; connection internals and defaults stay inside.
  it.each([
    "AMQPTransport",
    "SSETransport",
    "HTTPTransport",
    "RedisTransport",
    "DEFAULT_REDIS_URL",
    "VhostConnection",
    "DEFAULT_AMQP_URL",
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
  ])("does not export the internal %s", (name) => {
    expect(Object.hasOwn(weir, name)).toBe(false);
  });
});
