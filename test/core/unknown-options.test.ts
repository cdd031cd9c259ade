import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  ActionQueue,
  ActionRetryError,
  App,
  type AppOptions,
  ConstantBackoff,
  DoublingBackoff,
  ExponentialBackoff,
  hashPassword,
  LinearBackoff,
  MemoryOnceStore,
  RedisOnceStore,
  RouteTypes,
  Timeit,
  timeitToHistogram,
  toAsyncAPI,
} from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import { silentLogger } from "../helpers/amqp.js";

/** Nothing listens on port 1: none of these checks may need a broker. */
const DEAD_URL = "amqp://guest:guest@127.0.0.1:1";

function app(options: AppOptions = {}): App {
  return new App({ logger: silentLogger, ...options, amqp: { url: DEAD_URL, ...options.amqp } });
}

/** A misspelled key, as a user would type it, where TypeScript does not stop it (plain JS, `as`). */
function typo<T>(options: T, key: string, value: unknown = 1): T {
  return { ...options, [key]: value } as T;
}

/** The error an unknown key must raise: WEIR_ERR_INVALID_OPTION naming it and listing the known keys. */
function refused(
  option: string,
  known: readonly string[],
  suggestion?: string,
): ReturnType<typeof expect.objectContaining> {
  const list = `(known: ${known.join(", ")})`;
  return expect.objectContaining({
    code: "WEIR_ERR_INVALID_OPTION",
    option,
    message: expect.stringContaining(
      suggestion === undefined ? list : `${list}; did you mean "${suggestion}"?`,
    ),
  });
}

const APP_KEYS = [
  "logger",
  "shutdownTimeout",
  "name",
  "amqp",
  "http",
  "sse",
  "redis",
  "nats",
  "sqs",
  "observability",
  "transports",
];
const AMQP_KEYS = [
  "url",
  "hostSelection",
  "prefetch",
  "heartbeat",
  "noDelay",
  "reconnect",
  "onConnectionError",
  "publishTimeout",
  "publishBuffer",
  "consumerTimeout",
  "ackWindow",
];
const BACKOFF_KEYS = ["floor", "ceiling", "zeroOverride", "jitter", "random"];

describe("unknown option keys are refused everywhere, the known keys listed (issue 13)", () => {
  describe("new App(options)", () => {
    it("`ampq` instead of `amqp`: refused, not a silent fall-back to the local broker", () => {
      expect(() => new App(typo({ logger: silentLogger }, "ampq", { url: DEAD_URL }))).toThrow(
        refused("ampq", APP_KEYS, "amqp"),
      );
    });

    it("`shutdowntimeout`: refused with the right spelling suggested", () => {
      expect(() => new App(typo({ logger: silentLogger }, "shutdowntimeout", 5000))).toThrow(
        refused("shutdowntimeout", APP_KEYS, "shutdownTimeout"),
      );
    });

    it("amqp: `URL` instead of `url`", () => {
      expect(() => app({ amqp: typo({}, "URL", DEAD_URL) })).toThrow(refused("amqp.URL", AMQP_KEYS, "url"));
    });

    it("amqp.reconnect: `maxAttempt`", () => {
      expect(() => app({ amqp: { reconnect: typo({}, "maxAttempt", 3) } })).toThrow(
        refused("amqp.reconnect.maxAttempt", ["floor", "ceiling", "maxAttempts"], "maxAttempts"),
      );
    });

    it("redis, nats, sqs: a typo of `prefetch` (their app-level default, as for amqp) is refused with it suggested", () => {
      expect(() => app({ redis: typo({}, "prefech", 5) })).toThrow(
        refused("redis.prefech", ["url", "prefetch"], "prefetch"),
      );
      expect(() => app({ nats: typo({}, "prefech", 5) })).toThrow(
        refused(
          "nats.prefech",
          ["servers", "timeout", "connectTimeout", "reconnectWait", "prefetch"],
          "prefetch",
        ),
      );
      expect(() => app({ sqs: typo({}, "prefech", 5) })).toThrow(
        refused("sqs.prefech", ["endpoint", "region", "credentials", "prefetch"], "prefetch"),
      );
    });

    it("http, sse, observability and its sub-objects", () => {
      expect(() => app({ http: typo({}, "prot", 8080) })).toThrow(
        refused(
          "http.prot",
          ["host", "port", "logRequests", "headersTimeout", "requestTimeout", "keepAliveTimeout", "fastify"],
          "port",
        ),
      );
      expect(() => app({ sse: typo({}, "idletimeout", 1000) })).toThrow(
        refused(
          "sse.idletimeout",
          ["url", "headers", "user", "password", "reconnect", "idleTimeout", "maxEventSize"],
          "idleTimeout",
        ),
      );
      expect(() => app({ sse: { reconnect: typo({}, "flor", 10) } })).toThrow(
        refused("sse.reconnect.flor", ["floor", "ceiling"], "floor"),
      );
      expect(() => app({ observability: typo({}, "metric", true) })).toThrow(
        refused("observability.metric", ["health", "metrics", "tracing"], "metrics"),
      );
      expect(() => app({ observability: { health: typo({}, "readyPath", "/r") } })).toThrow(
        refused("observability.health.readyPath", ["livenessPath", "readinessPath"]),
      );
      expect(() => app({ observability: { metrics: typo({}, "prefx", "x_") } })).toThrow(
        refused(
          "observability.metrics.prefx",
          ["path", "defaultMetrics", "prefix", "registry", "buckets"],
          "prefix",
        ),
      );
      expect(() => app({ observability: { metrics: { buckets: typo({}, "bulksize", [1]) } } })).toThrow(
        refused(
          "observability.metrics.buckets.bulksize",
          ["handlerDuration", "bulkSize", "publishConfirm", "httpDuration"],
          "bulkSize",
        ),
      );
    });

    it("app.runEvery options", () => {
      expect(() => app().runEvery(1000, async () => {}, typo({}, "maxConcurency", 2))).toThrow(
        refused("runEvery.maxConcurency", ["maxConcurrency"], "maxConcurrency"),
      );
    });
  });

  describe("utilities", () => {
    it("backoffs", () => {
      expect(() => new ExponentialBackoff(typo({}, "factr", 10))).toThrow(
        refused("ExponentialBackoff.factr", [...BACKOFF_KEYS, "base", "factor"], "factor"),
      );
      expect(() => new ConstantBackoff(typo({}, "delay", 10))).toThrow(
        refused("ConstantBackoff.delay", [...BACKOFF_KEYS, "constant"]),
      );
      expect(() => new LinearBackoff(typo({}, "ceil", 10))).toThrow(
        refused("LinearBackoff.ceil", [...BACKOFF_KEYS, "factor"], "ceiling"),
      );
      expect(() => new DoublingBackoff(typo({}, "retry", 3))).toThrow(
        refused("DoublingBackoff.retry", ["retries", "initialBackoffMs"]),
      );
    });

    it("a subclass of a backoff may take options of its own", () => {
      class Stepped extends ExponentialBackoff {
        readonly steps: number;
        constructor(options: { steps: number; factor: number }) {
          super({ factor: options.factor } as never);
          this.steps = options.steps;
        }
      }
      expect(new Stepped({ steps: 3, factor: 10 }).steps).toBe(3);
    });

    it("ActionQueue, ActionRetryError, Timeit, timeitToHistogram", () => {
      expect(() => new ActionQueue(typo({}, "log", silentLogger))).toThrow(
        refused("ActionQueue.log", ["logger"], "logger"),
      );
      expect(() => new ActionRetryError(typo({}, "backoff", 10))).toThrow(
        refused("ActionRetryError.backoff", ["backoffMs", "cause"], "backoffMs"),
      );
      expect(() => new Timeit(typo({ name: "t", callback: () => {} }, "callbak", () => {}))).toThrow(
        refused("Timeit.callbak", ["name", "callback", "logger"], "callback"),
      );
      const histogram = new Histogram({ name: "t_seconds", help: "t", registers: [new Registry()] });
      expect(() => timeitToHistogram(histogram, typo({}, "label", "x"))).toThrow(
        refused("timeitToHistogram.label", ["transactionLabel", "resultLabel", "labels"], "labels"),
      );
    });

    it("once stores, hashPassword, toAsyncAPI", async () => {
      expect(() => new MemoryOnceStore(typo({}, "max", 10))).toThrow(
        refused("MemoryOnceStore.max", ["maxEntries"], "maxEntries"),
      );
      // Refused before it connects anywhere.
      expect(() => new RedisOnceStore(typo({ redis: "redis://127.0.0.1:1" }, "prefx", "p:"))).toThrow(
        refused("RedisOnceStore.prefx", ["redis", "prefix"], "prefix"),
      );
      await expect(hashPassword("pw", typo({}, "costs", 12))).rejects.toThrow(
        refused("hashPassword.costs", ["cost"], "cost"),
      );
      expect(() => toAsyncAPI(app(), typo({}, "titel", "x"))).toThrow(
        refused("toAsyncAPI.titel", ["title", "version", "description"], "title"),
      );
    });
  });

  describe("AMQP calls", () => {
    it("the dead-letter API refuses before it touches the broker", async () => {
      const target = app();
      await expect(target.amqp.listDeadLetters("q", typo({}, "limt", 1))).rejects.toThrow(
        refused("listDeadLetters.limt", ["limit", "vhost"], "limit"),
      );
      await expect(
        target.amqp.replay(
          "q",
          typo({}, "filtr", () => true),
        ),
      ).rejects.toThrow(refused("replay.filtr", ["limit", "filter", "vhost"], "filter"));
      await expect(target.amqp.purgeDeadLetters("q", typo({}, "vhots", "/"))).rejects.toThrow(
        refused("purgeDeadLetters.vhots", ["vhost"], "vhost"),
      );
    });

    it("m.reject({ requeu: false }) is refused instead of requeueing a message meant to be dropped", async () => {
      const target = app();
      const errors: unknown[] = [];
      target.route(["orders"], { type: RouteTypes.AMQP }, async (messages) => {
        for (const message of messages) {
          try {
            message.reject(typo({}, "requeu", false));
          } catch (error) {
            errors.push(error);
          }
          try {
            message.retry(typo({}, "delai", 10));
          } catch (error) {
            errors.push(error);
          }
        }
      });
      const client = createTestClient(target);
      try {
        await client.amqp.deliver("orders", [{ id: 1 }]);
      } finally {
        await client.close();
      }
      expect(errors[0]).toEqual(refused("reject.requeu", ["requeue"], "requeue"));
      // A route without retry says so first; the key check comes with a route that has one.
      expect(errors[1]).toMatchObject({ code: "WEIR_ERR_RETRY_NOT_CONFIGURED" });
    });

    it("m.retry({ delai }) on a route with retries", async () => {
      const target = app();
      const errors: unknown[] = [];
      target.route(
        ["orders"],
        {
          type: RouteTypes.AMQP,
          retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 10, floor: 0 }) },
        },
        async (messages) => {
          try {
            messages[0]!.retry(typo({}, "delai", 10));
          } catch (error) {
            errors.push(error);
          }
        },
      );
      const client = createTestClient(target);
      try {
        await client.amqp.deliver("orders", [{ id: 1 }]);
      } finally {
        await client.close();
      }
      expect(errors[0]).toEqual(refused("retry.delai", ["delay", "reason"], "delay"));
    });
  });

  describe("weir/testing", () => {
    it("createTestClient, its queues, deliver, redeliver, messages, idle, sse.emit", async () => {
      expect(() => createTestClient(app(), typo({}, "queue", {}))).toThrow(
        refused("createTestClient.queue", ["drivers", "queues", "requeue"], "queues"),
      );
      expect(() => createTestClient(app(), { queues: { orders: typo({}, "durabel", true) } })).toThrow(
        refused(
          "queues.orders.durabel",
          ["durable", "exclusive", "autoDelete", "arguments", "vhost"],
          "durable",
        ),
      );
      const target = app({ sse: { url: "http://127.0.0.1:1" } });
      target.route(["orders"], { type: RouteTypes.AMQP }, async () => {});
      target.route(["/events"], { type: RouteTypes.SSE }, async () => {});
      const client = createTestClient(target);
      try {
        await expect(client.amqp.deliver("orders", [{}], typo({}, "headrs", {}))).rejects.toThrow(
          refused(
            "deliver.headrs",
            [
              "vhost",
              "headers",
              "contentType",
              "contentEncoding",
              "messageId",
              "correlationId",
              "priority",
              "redelivered",
              "timeout",
            ],
            "headers",
          ),
        );
        await expect(client.amqp.redeliver(typo({}, "timout", 10))).rejects.toThrow(
          refused("redeliver.timout", ["timeout"], "timeout"),
        );
        expect(() => client.amqp.messages("orders", typo({}, "vhst", "/"))).toThrow(
          refused("messages.vhst", ["vhost"], "vhost"),
        );
        await expect(client.amqp.idle(typo({}, "timout", 10))).rejects.toThrow(
          refused("idle.timout", ["timeout"], "timeout"),
        );
        await expect(client.sse.emit("/events", [{ data: "x" }], typo({}, "timout", 10))).rejects.toThrow(
          refused("emit.timout", ["timeout"], "timeout"),
        );
      } finally {
        await client.close();
      }
    });
  });
});
