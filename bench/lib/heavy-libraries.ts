/**
 * weir's dependencies that a pure AMQP worker should not load when it imports weir and builds its
 * App (issue #16): each belongs to a transport or a feature, and is loaded when that is used
 * (amqplib once the AMQP transport connects). `npm run bench:cold-start` reports which of them a
 * build loads; test/core/lazy-load.test.ts asserts none.
 */
export const HEAVY_LIBRARIES = [
  "amqplib",
  "fastify",
  "eventsource-parser",
  "ioredis",
  "jose",
  "prom-client",
  "@opentelemetry/api",
  "@nats-io/transport-node",
  "@nats-io/jetstream",
  "@aws-sdk/client-sqs",
] as const;
