import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import { App, type AppOptions } from "../../src/index.js";

/** The shared Redis of the tests (never reconfigured: every test uses keys of its own). */
export const REDIS_URL = process.env.WEIR_REDIS_URL ?? "redis://127.0.0.1:6379";

export const silentLogger = pino({ level: process.env.WEIR_TEST_LOG ?? "silent" });

/** A stream name no other test uses. */
export function uniqueStream(prefix: string): string {
  return `weir-test.${prefix}.${randomUUID().slice(0, 8)}`;
}

export function createRedisApp(options: AppOptions = {}, url = REDIS_URL): App {
  return new App({ logger: silentLogger, ...options, redis: { url, ...options.redis } });
}

/** A raw ioredis client for the tests' own reads and writes; deletes the keys it made on close. */
export class RedisHelper {
  readonly client: Redis;
  private readonly keys = new Set<string>();

  constructor(url = REDIS_URL) {
    this.client = new Redis(url, { protocol: 2, maxRetriesPerRequest: 1, lazyConnect: false });
    this.client.on("error", () => {});
  }

  /** Remembers `stream` (and its `.retry` and `.dlq` keys) to delete on close. */
  track(stream: string): string {
    this.keys.add(stream);
    this.keys.add(`${stream}.retry`);
    this.keys.add(`${stream}.dlq`);
    return stream;
  }

  /** Adds JSON bodies as weir does (field `body`), in order. */
  async publish(stream: string, bodies: readonly unknown[]): Promise<string[]> {
    this.track(stream);
    const ids: string[] = [];
    for (const body of bodies)
      ids.push(String(await this.client.xadd(stream, "*", "body", JSON.stringify(body))));
    return ids;
  }

  /** Entries no group has settled: pending plus not yet read, summed over the stream's groups. */
  async backlog(stream: string): Promise<number> {
    if ((await this.client.exists(stream)) === 0) return 0;
    const groups = (await this.client.call("XINFO", ["GROUPS", stream])) as unknown[][];
    if (groups.length === 0) return Number(await this.client.xlen(stream));
    let total = 0;
    for (const flat of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
      total += Number(info.get("pending") ?? 0) + Number(info.get("lag") ?? 0);
    }
    return total;
  }

  /** The bodies of `<stream>.dlq`, oldest first. */
  async deadLetters(stream: string): Promise<unknown[]> {
    const entries = (await this.client.xrange(`${stream}.dlq`, "-", "+")) as [string, string[]][];
    return entries.map(([, flat]) => {
      const index = flat.indexOf("body");
      return JSON.parse(flat[index + 1] ?? "null") as unknown;
    });
  }

  /** The fields of every entry of `<stream>.dlq`. */
  async deadLetterFields(stream: string): Promise<Record<string, string>[]> {
    const entries = (await this.client.xrange(`${stream}.dlq`, "-", "+")) as [string, string[]][];
    return entries.map(([, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return fields;
    });
  }

  /** Kills every connection whose name starts with `prefix` (`CLIENT KILL ID`); how many. */
  async killClients(prefix: string): Promise<number> {
    const list = String(await this.client.call("CLIENT", ["LIST"]));
    let killed = 0;
    for (const line of list.split("\n")) {
      const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1];
      const name = /(?:^|\s)name=(\S*)/.exec(line)?.[1];
      if (id === undefined || name === undefined || !name.startsWith(prefix)) continue;
      killed += Number(await this.client.call("CLIENT", ["KILL", "ID", id]));
    }
    return killed;
  }

  async close(): Promise<void> {
    if (this.keys.size > 0) await this.client.del(...this.keys);
    this.keys.clear();
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
