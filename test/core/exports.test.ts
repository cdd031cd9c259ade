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
    "SSETransport",
    "isMainModule",
    "InspectOnlyError",
    // The seam and the delivery model, for transport authors (issue #16).
    "BUILT_IN_TRANSPORTS",
    "amqpTransport",
    "httpTransport",
    "sseTransport",
    "Delivery",
    "DeliveryPolicy",
    "RouteRunner",
    "onceOption",
    "SSEEvent",
  ])("exports %s", (name) => {
    expect(Object.hasOwn(weir, name)).toBe(true);
  });
});
