import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Logger } from "../../src/index.js";
import { type App, ConstantBackoff, RouteTypes } from "../../src/index.js";
import { Broker, createApp } from "../helpers/amqp.js";
import { captureLogs } from "../helpers/logs.js";
import { createNATSApp, NATSAdmin } from "../helpers/nats.js";
import { createRedisApp, RedisHelper } from "../helpers/redis.js";
import { createSQSApp, rawClient, SQSQueues, sqsEmulator } from "../helpers/sqs.js";
import { until } from "./delivery-behaviour.js";

/**
 * Issue #20, "Done when": a worker written for one broker moves to another by changing the route
 * type and the app options. One worker (below) runs unchanged on RabbitMQ, Redis Streams, NATS
 * JetStream and SQS: nothing is created on the broker beforehand (`declare: true` makes the queue or
 * stream), the messages are sent with the app's own client, and what a user checks is the same on
 * each: every good order handled once, the poison ones retried then dead-lettered with the one the
 * schema refuses, nothing left behind. Only `BROKERS` differs per broker, and only in what the
 * worker does not contain: the app's options, the publish call, where the dead letters are read.
 */

const Order = z.object({ id: z.number().int(), poison: z.boolean().optional() });
type Order = z.infer<typeof Order>;

/** The worker's route, minus its `type`: the part that moves unchanged. */
const WORKER = {
  declare: true,
  prefetch: 20,
  schema: Order,
  once: { ttl: 60_000 },
  retry: { maxAttempts: 2, backoff: new ConstantBackoff({ constant: 200, floor: 200 }) },
  deadLetter: true,
  options: { bulkSize: 10, bulkFlushInterval: 50 },
};

/** The worker's handler: poison orders ask for a retry, the others are recorded. */
function handler(handled: number[]) {
  return async (orders: { body: Order; retry(): void }[]) => {
    for (const order of orders) {
      if (order.body.poison === true) order.retry();
      else handled.push(order.body.id);
    }
  };
}

/** A name every broker takes: NATS stream names have no dots, SQS queue names no dots either. */
const source = () => `move_${randomUUID().slice(0, 8)}`;

interface BrokerCase {
  readonly name: string;
  /** A fresh app on this broker (the app options differ, and only they). */
  makeApp(logger: Logger): App;
  /** The route, as the user writes it: `{ type, ...WORKER }`. */
  addWorker(app: App, source: string, handled: number[]): void;
  /** Sends a body with the app's own client. */
  send(app: App, source: string, body: unknown): Promise<unknown>;
  /** The dead letters' bodies, read off the broker. */
  deadLetters(source: string): Promise<unknown[]>;
  /** What the broker still holds unsettled for the worker. */
  backlog(source: string): Promise<number>;
  cleanup(source: string): Promise<void>;
}

const emulator = await sqsEmulator();
const sqsQueues = new SQSQueues(rawClient(emulator));
let nats: NATSAdmin | undefined;
let redis: RedisHelper | undefined;
let amqp: Broker | undefined;
afterAll(async () => {
  await nats?.close();
  await redis?.close();
  await amqp?.close();
  await sqsQueues.cleanup();
  await emulator.stop();
});
const admin = {
  nats: async () => (nats ??= await NATSAdmin.connect()),
  redis: () => (redis ??= new RedisHelper()),
  amqp: async () => (amqp ??= await Broker.connect()),
};
const APP = "move-worker";
const amqpDeadLetters = new Map<string, unknown[]>();
const QUIET = { name: APP, shutdownTimeout: 5_000 };

const BROKERS: readonly BrokerCase[] = [
  {
    name: "RabbitMQ",
    makeApp: (logger) => createApp({ ...QUIET, logger }),
    addWorker: (app, name, handled) =>
      app.route([name], { type: RouteTypes.AMQP, ...WORKER }, handler(handled)),
    send: (app, name, body) => app.amqp.publish(body, { routingKey: name }),
    async deadLetters(name) {
      // Taken off the queue as they are read (RabbitMQ has no peek), so kept for the next read.
      const seen = amqpDeadLetters.get(name) ?? [];
      seen.push(...(await (await admin.amqp()).drain(`${name}.dlq`)));
      amqpDeadLetters.set(name, seen);
      return seen;
    },
    backlog: async (name) => (await admin.amqp()).count(name),
    async cleanup(name) {
      const broker = await admin.amqp();
      for (const queue of [name, `${name}.dlq`, `${name}.retry.200`]) broker.track(queue);
    },
  },
  {
    name: "Redis Streams",
    makeApp: (logger) => createRedisApp({ ...QUIET, logger }),
    addWorker: (app, name, handled) =>
      app.route([name], { type: RouteTypes.REDIS, ...WORKER }, handler(handled)),
    send: (app, name, body) => app.redis.publish(body, { stream: name }),
    deadLetters: async (name) => admin.redis().deadLetters(name),
    backlog: async (name) => admin.redis().backlog(name),
    async cleanup(name) {
      admin.redis().track(name);
    },
  },
  {
    name: "NATS JetStream",
    makeApp: (logger) => createNATSApp({ ...QUIET, logger }),
    addWorker: (app, name, handled) =>
      app.route([name], { type: RouteTypes.NATS, ...WORKER }, handler(handled)),
    send: (app, name, body) => app.nats.publish(body, { subject: name }),
    deadLetters: async (name) => (await (await admin.nats()).messages(`${name}-dlq`)).map((m) => m.body),
    backlog: async (name) => (await admin.nats()).backlog(name, APP),
    async cleanup(name) {
      const a = await admin.nats();
      a.track(name);
      a.track(`${name}-dlq`);
    },
  },
  {
    name: "Amazon SQS (fauxqs)",
    makeApp: (logger) => createSQSApp(emulator, { ...QUIET, logger }),
    addWorker: (app, name, handled) =>
      app.route([name], { type: RouteTypes.SQS, ...WORKER, waitTime: 1_000 }, handler(handled)),
    send: (app, name, body) => app.sqs.publish(body, { queue: name }),
    deadLetters: (name) => sqsQueues.peek(`${name}-dlq`),
    backlog: (name) => sqsQueues.backlog(name),
    async cleanup(name) {
      for (const queue of [name, `${name}-dlq`]) {
        const url = await sqsQueues.url(queue);
        if (url !== undefined) sqsQueues.created.push(url);
      }
    },
  },
];

describe.each(BROKERS)(
  "one worker, moved to $name by its route type and app options (issue #20)",
  (broker) => {
    it("creates what it reads, handles every good order once, retries then dead-letters the poison and the refused, leaves nothing", async () => {
      const name = source();
      const handled: number[] = [];
      const { logger, lines } = captureLogs("warn");
      const app = broker.makeApp(logger);
      try {
        broker.addWorker(app, name, handled);
        await app.start();
        const orders: unknown[] = [];
        for (let id = 1; id <= 30; id++) orders.push({ id });
        orders.push({ id: 31, poison: true }, { id: 32, poison: true }, { id: "not a number" });
        for (const order of orders) await broker.send(app, name, order);

        await until(
          async () => handled.length >= 30 && (await broker.deadLetters(name)).length >= 3,
          "the worker to finish",
          20_000,
        );
        expect([...handled].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        const dead = await broker.deadLetters(name);
        expect(dead).toHaveLength(3);
        expect(dead).toEqual(
          expect.arrayContaining([
            { id: 31, poison: true },
            { id: 32, poison: true },
            { id: "not a number" },
          ]),
        );
        await until(async () => (await broker.backlog(name)) === 0, "nothing left unsettled", 10_000);
        // And the logs say the same on every broker: one line per dead letter, why as a category,
        // the attempts it had, the error in words.
        const deadLettered = lines.filter((line) => line.msg === "message dead-lettered");
        expect(deadLettered.map((line) => line.reason).sort()).toEqual([
          "max-attempts",
          "max-attempts",
          "schema",
        ]);
        for (const line of deadLettered) {
          expect(line).toMatchObject({ attempts: expect.any(Number), error: expect.any(String) });
        }
      } finally {
        await app.stop();
        await broker.cleanup(name);
      }
    });
  },
);
