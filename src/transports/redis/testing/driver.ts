import type { TestDriverFactory, WaitOptions } from "../../../testing/driver.js";
import type { RedisDeadLetter } from "../client.js";
import { BODY_FIELD, type Fields, RedisFields } from "../fields.js";
import type { RedisTransport } from "../transport.js";
import { type MemoryEntry, MemoryRedis, type RedisPublishResult } from "./memory-redis.js";

/** `client.redis`: Redis Streams in memory, delivered into the app's own route runners. */
export interface TestRedis {
  /**
   * Adds `body` (JSON) to `stream`, starting the app first, and resolves once the route reading the
   * stream settled it (with how), or at once when no route reads it. Rejects with
   * `WEIR_ERR_TEST_TIMEOUT` after `timeout` ms (10 s).
   */
  publish(
    stream: string,
    body: unknown,
    options?: { headers?: Readonly<Record<string, string>>; messageId?: string } & WaitOptions,
  ): Promise<RedisPublishResult>;
  /** Every entry added to `stream` (by `publish` here, `app.redis.publish`, or a retry), oldest first. */
  entries(stream: string): readonly MemoryEntry[];
  /** The dead letters of `stream` (`<stream>.dlq`), oldest first. */
  deadLetters(stream: string): readonly RedisDeadLetter[];
}

declare module "../../../testing/client.js" {
  interface TestClientTransports {
    /** Redis Streams in memory: publish to a route's stream, read its dead letters. */
    readonly redis: TestRedis;
  }
}

/** The Redis transport's streams served from memory: no Redis, no connection. */
export const redisTestDriver: TestDriverFactory<RedisTransport> = {
  type: "redis",
  optionKeys: [],
  create(transport, context) {
    const memory = new MemoryRedis();
    const previous = transport.commands.target;
    transport.commands.target = memory;
    transport.inMemory = true;
    const api: TestRedis = {
      async publish(stream, body, options) {
        await context.start();
        const fields: Fields = { ...options?.headers };
        if (options?.messageId !== undefined) fields[RedisFields.MESSAGE_ID] = options.messageId;
        fields[BODY_FIELD] = JSON.stringify(body) ?? "null";
        return memory.publishAndWait(stream, fields, options);
      },
      entries: (stream) => memory.entries(stream),
      deadLetters: (stream) => memory.deadLetters(stream),
    };
    return {
      api,
      beforeStart() {
        memory.attach(transport.routeConsumers);
      },
      afterClose() {
        memory.close();
        transport.commands.target = previous;
      },
    };
  },
};
