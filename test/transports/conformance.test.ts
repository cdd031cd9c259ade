import { describe } from "vitest";
import {
  type AMQPMessage,
  type App,
  type NATSMessage,
  type RedisMessage,
  RouteTypes,
  type SQSMessage,
  type SSEEvent,
} from "../../src/index.js";
import { Broker, createApp, uniqueName } from "../helpers/amqp.js";
import { createNATSApp, NATSAdmin, uniqueStream as uniqueNATSStream } from "../helpers/nats.js";
import { createRedisApp, RedisHelper, uniqueStream } from "../helpers/redis.js";
import { createSQSApp, rawClient, SQSQueues, sqsEmulator, sqsQueueName } from "../helpers/sqs.js";
import { SSETestServer } from "../sse/sse-test-server.js";
import { type TransportFixture, transportConformance } from "./conformance.js";

describe("transport conformance: amqp", () => {
  transportConformance("amqp", (): TransportFixture => {
    let broker: Broker | undefined;
    let queue = "";
    return {
      async makeApp() {
        broker = await Broker.connect();
        queue = await broker.queue(uniqueName("conformance"));
        return createApp();
      },
      addRoute(app, handler) {
        app.route([queue], { type: RouteTypes.AMQP }, async (messages: AMQPMessage<{ p: string }>[]) => {
          for (const m of messages) handler(m);
        });
      },
      addInvalidRoute(app) {
        app.route([queue], { type: RouteTypes.AMQP, options: { bulkSize: 0 } }, async () => {});
      },
      async deliver(_app, payload) {
        await broker?.publish(queue, [{ p: payload }]);
      },
      payloadOf: (received) => (received as AMQPMessage<{ p: string }>).body.p,
      async cleanup() {
        await broker?.close();
      },
    };
  });
});

describe("transport conformance: http", () => {
  transportConformance(
    "http",
    (): TransportFixture => ({
      async makeApp() {
        return createApp({ http: { host: "127.0.0.1", port: 0 } });
      },
      addRoute(app, handler) {
        app.route(["/conformance"], { type: RouteTypes.HTTP, methods: ["POST"] }, async (request) => {
          handler(request.body);
          return { ok: true };
        });
      },
      addInvalidRoute(app) {
        app.route(["/x"], { type: RouteTypes.HTTP, methods: ["FETCH" as "GET"] }, async () => "x");
      },
      async deliver(app: App, payload) {
        const response = await fetch(`${app.http.url}/conformance`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ p: payload }),
        });
        await response.text();
      },
      payloadOf: (received) => (received as { p: string }).p,
      async cleanup() {},
    }),
  );
});

describe("transport conformance: sse", () => {
  transportConformance("sse", (): TransportFixture => {
    let server: SSETestServer | undefined;
    return {
      async makeApp() {
        server = await SSETestServer.start();
        server.manual("/conformance");
        return createApp({ sse: { url: server.url } });
      },
      addRoute(app, handler) {
        app.route(["/conformance"], { type: RouteTypes.SSE }, async (events: SSEEvent<{ p: string }>[]) => {
          for (const event of events) handler(event);
        });
      },
      addInvalidRoute(app) {
        app.route(["/x"], { type: RouteTypes.SSE, options: { bulkSize: -1 } }, async () => {});
      },
      async deliver(_app, payload) {
        server?.send("/conformance", { data: JSON.stringify({ p: payload }) });
      },
      payloadOf: (received) => (received as SSEEvent<{ p: string }>).body.p,
      async cleanup() {
        await server?.close();
      },
    };
  });
});

describe("transport conformance: redis", () => {
  transportConformance("redis", (): TransportFixture => {
    let redis: RedisHelper | undefined;
    let stream = "";
    return {
      async makeApp() {
        redis = new RedisHelper();
        stream = redis.track(uniqueStream("conformance"));
        return createRedisApp({ name: `conformance-${stream.slice(-8)}` });
      },
      addRoute(app, handler) {
        app.route([stream], { type: RouteTypes.REDIS }, async (messages: RedisMessage<{ p: string }>[]) => {
          for (const m of messages) handler(m);
        });
      },
      addInvalidRoute(app) {
        app.route([stream], { type: RouteTypes.REDIS, options: { bulkSize: 0 } }, async () => {});
      },
      async deliver(_app, payload) {
        await redis?.publish(stream, [{ p: payload }]);
      },
      payloadOf: (received) => (received as RedisMessage<{ p: string }>).body.p,
      async cleanup() {
        await redis?.close();
      },
    };
  });
});

describe("transport conformance: nats", () => {
  transportConformance("nats", (): TransportFixture => {
    let admin: NATSAdmin | undefined;
    let stream = "";
    return {
      async makeApp() {
        admin = await NATSAdmin.connect();
        stream = await admin.stream(uniqueNATSStream("conformance"));
        return createNATSApp({ name: uniqueNATSStream("conformance") });
      },
      addRoute(app, handler) {
        app.route([stream], { type: RouteTypes.NATS }, async (messages: NATSMessage<{ p: string }>[]) => {
          for (const m of messages) handler(m);
        });
      },
      addInvalidRoute(app) {
        app.route([stream], { type: RouteTypes.NATS, options: { bulkSize: 0 } }, async () => {});
      },
      async deliver(_app, payload) {
        await admin?.publish(`${stream}.conformance`, [{ p: payload }]);
      },
      payloadOf: (received) => (received as NATSMessage<{ p: string }>).body.p,
      async cleanup() {
        await admin?.close();
      },
    };
  });
});

describe("transport conformance: sqs", () => {
  transportConformance("sqs", (): TransportFixture => {
    let queues: SQSQueues | undefined;
    let queue = "";
    return {
      async makeApp() {
        const emulator = await sqsEmulator();
        queues = new SQSQueues(rawClient(emulator));
        queue = sqsQueueName("conformance");
        await queues.create(queue);
        return createSQSApp(emulator);
      },
      addRoute(app, handler) {
        app.route(
          [queue],
          { type: RouteTypes.SQS, waitTime: 1_000 },
          async (messages: SQSMessage<{ p: string }>[]) => {
            for (const m of messages) handler(m);
          },
        );
      },
      addInvalidRoute(app) {
        app.route([queue], { type: RouteTypes.SQS, options: { bulkSize: 0 } }, async () => {});
      },
      async deliver(_app, payload) {
        await queues?.publish(queue, [{ p: payload }]);
      },
      payloadOf: (received) => (received as SQSMessage<{ p: string }>).body.p,
      async cleanup() {
        await queues?.cleanup();
      },
    };
  });
});
