import type { Redis } from "ioredis";
import type { Fields } from "./fields.js";
import { flatten } from "./fields.js";
import type { RedisMessage } from "./message.js";
import { DLQ_SUFFIX, RETRY_SUFFIX } from "./route-spec.js";

/**
 * What a route's acknowledger and forwarding ask of Redis, as one interface: the real one sends
 * commands (below); weir/testing's keeps streams in memory.
 */
export interface RedisCommands {
  /** `XACK`: the group is done with these entries (one command per stream). */
  ack(group: string, messages: readonly RedisMessage[]): Promise<void>;
  /**
   * A requeue: the entries stay pending, marked idle for `idle` ms (`XCLAIM ... IDLE idle JUSTID`),
   * so the next `XAUTOCLAIM` of any consumer of the group takes them, their delivery count raised.
   */
  release(group: string, consumer: string, messages: readonly RedisMessage[], idle: number): Promise<void>;
  /** A retry: into `<stream>.retry` (a sorted set by due time) and acked, in one transaction. */
  retryLater(group: string, message: RedisMessage, fields: Fields, dueAt: number): Promise<void>;
  /** A dead letter: added to `<stream>.dlq` and acked, in one transaction. */
  deadLetter(group: string, message: RedisMessage, fields: Fields): Promise<void>;
  /** `XADD stream [MAXLEN ~ maxLen] * fields`: the new entry's id. */
  add(stream: string, fields: Fields, maxLen: number | undefined): Promise<string>;
}

/** Moves the due retries of a stream back into it (atomic: never lost, never twice). */
export const MOVE_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local entry = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', unpack(entry.f))
  redis.call('ZREM', KEYS[1], member)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or ''}
`;

/**
 * Renews the entries this consumer still owns (resets their idle time; `JUSTID` keeps their delivery
 * count), and leaves alone those another consumer took over meanwhile.
 */
export const RENEW = `
local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #pending > 0 then claim[#claim + 1] = ARGV[i] end
end
if #claim == 5 then return 0 end
claim[#claim + 1] = 'JUSTID'
redis.call(unpack(claim))
return #claim - 6
`;

/** Groups `messages` by stream. */
export function byStream(messages: readonly RedisMessage[]): Map<string, string[]> {
  const streams = new Map<string, string[]>();
  for (const message of messages) {
    const ids = streams.get(message.stream);
    if (ids === undefined) streams.set(message.stream, [message.id]);
    else ids.push(message.id);
  }
  return streams;
}

/** A retry's member in `<stream>.retry`: unique per entry, with its fields for XADD. */
export function retryMember(message: RedisMessage, fields: Fields): string {
  return JSON.stringify({ s: message.stream, i: message.id, f: flatten(fields) });
}

/** The commands on a real Redis, through the transport's command connection. */
export class IORedisCommands implements RedisCommands {
  constructor(private readonly client: () => Promise<Redis>) {}

  async ack(group: string, messages: readonly RedisMessage[]): Promise<void> {
    const client = await this.client();
    await Promise.all([...byStream(messages)].map(([stream, ids]) => client.xack(stream, group, ...ids)));
  }

  async release(
    group: string,
    consumer: string,
    messages: readonly RedisMessage[],
    idle: number,
  ): Promise<void> {
    const client = await this.client();
    await Promise.all(
      [...byStream(messages)].map(([stream, ids]) =>
        client.call("XCLAIM", [stream, group, consumer, "0", ...ids, "IDLE", String(idle), "JUSTID"]),
      ),
    );
  }

  async retryLater(group: string, message: RedisMessage, fields: Fields, dueAt: number): Promise<void> {
    const client = await this.client();
    const replies = await client
      .multi()
      .zadd(`${message.stream}${RETRY_SUFFIX}`, dueAt, retryMember(message, fields))
      .xack(message.stream, group, message.id)
      .exec();
    failed(replies);
  }

  async deadLetter(group: string, message: RedisMessage, fields: Fields): Promise<void> {
    const client = await this.client();
    const replies = await client
      .multi()
      .xadd(`${message.stream}${DLQ_SUFFIX}`, "*", ...flatten(fields))
      .xack(message.stream, group, message.id)
      .exec();
    failed(replies);
  }

  async add(stream: string, fields: Fields, maxLen: number | undefined): Promise<string> {
    const client = await this.client();
    return String(await client.call("XADD", [stream, ...addArguments(fields, maxLen)]));
  }
}

/** The commands a transport uses now: Redis, or weir/testing's memory (swapped before start). */
export class CommandSwitch implements RedisCommands {
  constructor(public target: RedisCommands) {}
  ack(group: string, messages: readonly RedisMessage[]): Promise<void> {
    return this.target.ack(group, messages);
  }
  release(group: string, consumer: string, messages: readonly RedisMessage[], idle: number): Promise<void> {
    return this.target.release(group, consumer, messages, idle);
  }
  retryLater(group: string, message: RedisMessage, fields: Fields, dueAt: number): Promise<void> {
    return this.target.retryLater(group, message, fields, dueAt);
  }
  deadLetter(group: string, message: RedisMessage, fields: Fields): Promise<void> {
    return this.target.deadLetter(group, message, fields);
  }
  add(stream: string, fields: Fields, maxLen: number | undefined): Promise<string> {
    return this.target.add(stream, fields, maxLen);
  }
}

/** `XADD`'s arguments after the key. */
export function addArguments(fields: Fields, maxLen: number | undefined): string[] {
  const trim = maxLen === undefined ? [] : ["MAXLEN", "~", String(maxLen)];
  return [...trim, "*", ...flatten(fields)];
}

/** Throws the first error of a transaction's replies (null: aborted). */
function failed(replies: [error: Error | null, result: unknown][] | null): void {
  if (replies === null) throw new Error("the transaction was aborted");
  for (const [error] of replies) if (error) throw error;
}
