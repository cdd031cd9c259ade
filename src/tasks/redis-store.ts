import type { Redis } from "ioredis";
import { redactUrl } from "../core/logger.js";
import { TaskStoreError } from "./errors.js";
import { isFinal, TASK_STATUSES, type TaskRecord, type TaskStatus } from "./record.js";
import type { Outcome, SubmittedRun, TaskStore, Unwatch } from "./store.js";
import { closeRedis, openRedis } from "./store-connection.js";

/**
 * The task store on Redis. One hash per run, `weir:task:<id>`, with `id`, `task`, `status`,
 * `attempt`, timestamps (ms), `result` / `error` / `previous` / `next` (JSON) and `ttl`; it expires
 * `ttl` ms after its last change (`PEXPIRE` on every write). Each change is published on the channel
 * of the same name; revocations also on `weir:tasks:revoked`, which every worker listens to. Status
 * changes are Lua scripts, so a revocation and a worker's start or finish never interleave.
 */

const REVOKED_CHANNEL = "weir:tasks:revoked";

export function recordKey(id: string): string {
  return `weir:task:${id}`;
}

/** Marks an attempt running unless the run is revoked (then `revoked`) or succeeded (then `done`). */
const START = `
local s = redis.call('HGET', KEYS[1], 'status')
if s == 'revoked' then return 'revoked' end
if s == 'succeeded' then return 'done' end
if not s then redis.call('HSET', KEYS[1], 'id', ARGV[5], 'submittedAt', ARGV[3]) end
redis.call('HSET', KEYS[1], 'task', ARGV[1], 'status', 'running', 'attempt', ARGV[2], 'startedAt', ARGV[3], 'ttl', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[1], 'running')
return 'run'`;

/** Records an attempt's end; a run revoked meanwhile stays revoked. Returns the status kept. */
const FINISH = `
local s = redis.call('HGET', KEYS[1], 'status')
local status = ARGV[1]
if s == 'revoked' then status = 'revoked' end
redis.call('HSET', KEYS[1], 'id', ARGV[6], 'task', ARGV[7], 'status', status)
if status == 'succeeded' then
  redis.call('HSET', KEYS[1], 'result', ARGV[3], 'finishedAt', ARGV[4])
  redis.call('HDEL', KEYS[1], 'error')
elseif status == 'retrying' then
  redis.call('HSET', KEYS[1], 'error', ARGV[3])
else
  if ARGV[2] == 'error' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
  if not redis.call('HGET', KEYS[1], 'finishedAt') then redis.call('HSET', KEYS[1], 'finishedAt', ARGV[4]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', KEYS[1], status)
return status`;

/** Revokes a run not yet final; returns the status it had ('' for none). */
const REVOKE = `
local s = redis.call('HGET', KEYS[1], 'status')
if s == 'succeeded' or s == 'failed' or s == 'revoked' then return s end
local ttl = redis.call('HGET', KEYS[1], 'ttl') or ARGV[3]
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'status', 'revoked', 'finishedAt', ARGV[2], 'ttl', ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PUBLISH', KEYS[1], 'revoked')
redis.call('PUBLISH', KEYS[2], ARGV[1])
return s or ''`;

export class RedisTaskStore implements TaskStore {
  private commands: Promise<Redis> | undefined;
  private subscriber: Promise<Redis> | undefined;
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly appName: string,
  ) {}

  async submit(run: SubmittedRun, ttlMs: number): Promise<void> {
    const key = recordKey(run.id);
    const fields: string[] = ["id", run.id, "task", run.task, "status", "submitted", "attempt", "0"];
    fields.push("submittedAt", String(Date.now()), "ttl", String(ttlMs));
    if (run.previous !== undefined) fields.push("previous", JSON.stringify(run.previous));
    if (run.next !== undefined) fields.push("next", JSON.stringify(run.next));
    await this.run("record a submitted task", (redis) =>
      redis
        .multi()
        .hset(key, ...fields)
        .pexpire(key, ttlMs)
        .publish(key, "submitted")
        .exec(),
    );
  }

  async forget(id: string): Promise<void> {
    await this.run("forget a task", (redis) => redis.del(recordKey(id)));
  }

  async start(id: string, task: string, attempt: number, ttlMs: number): Promise<"run" | "revoked"> {
    const answer = await this.run("record a task's start", (redis) =>
      redis.eval(START, 1, recordKey(id), task, String(attempt), String(Date.now()), String(ttlMs), id),
    );
    // A run that already succeeded (its message delivered again) is skipped like a revoked one.
    return answer === "run" ? "run" : "revoked";
  }

  async finish(id: string, task: string, outcome: Outcome, ttlMs: number): Promise<TaskStatus> {
    const [field, value] =
      outcome.status === "succeeded" ? ["result", outcome.result] : ["error", outcome.error];
    const answer = await this.run("record a task's end", (redis) =>
      redis.eval(
        FINISH,
        1,
        recordKey(id),
        outcome.status,
        field,
        value,
        String(Date.now()),
        String(ttlMs),
        id,
        task,
      ),
    );
    return answer as TaskStatus;
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const hash = await this.run("read a task", (redis) => redis.hgetall(recordKey(id)));
    return parseRecord(hash);
  }

  async revoke(id: string, ttlMs: number): Promise<TaskStatus | undefined> {
    const had = await this.run("revoke a task", (redis) =>
      redis.eval(REVOKE, 2, recordKey(id), REVOKED_CHANNEL, id, String(Date.now()), String(ttlMs)),
    );
    return had === "" ? undefined : (had as TaskStatus);
  }

  watch(id: string, listener: () => void): Promise<Unwatch> {
    return this.listen(recordKey(id), () => listener());
  }

  onRevoke(listener: (id: string) => void): Promise<Unwatch> {
    return this.listen(REVOKED_CHANNEL, listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    const opened = [this.commands, this.subscriber];
    this.commands = undefined;
    this.subscriber = undefined;
    // Handles still waiting read their record once more, find the store closed and reject.
    const waiting = [...this.listeners].filter(([channel]) => channel !== REVOKED_CHANNEL);
    this.listeners.clear();
    for (const [, listeners] of waiting) for (const listener of listeners) listener("closed");
    for (const connection of opened) {
      if (connection !== undefined)
        await closeRedis(await connection.catch(() => undefined as never)).catch(() => {});
    }
  }

  private async listen(channel: string, listener: (message: string) => void): Promise<Unwatch> {
    const subscriber = await this.connection("subscriber");
    let set = this.listeners.get(channel);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(channel, set);
      try {
        await subscriber.subscribe(channel);
      } catch (error) {
        this.listeners.delete(channel);
        throw new TaskStoreError("subscribe to task updates", { cause: error }, redactUrl(this.url));
      }
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      if (current === undefined || !current.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      if (!this.closed) await subscriber.unsubscribe(channel).catch(() => {});
    };
  }

  private connection(role: "commands" | "subscriber"): Promise<Redis> {
    const current = role === "commands" ? this.commands : this.subscriber;
    if (current !== undefined) return current;
    const opening = openRedis(this.url, `weir:${this.appName}:tasks-${role}`).then((redis) => {
      if (role === "subscriber") {
        redis.on("message", (channel: string, message: string) => {
          for (const listener of this.listeners.get(channel) ?? []) listener(message);
        });
        // Connected already: a later "ready" is a reconnect, and the changes published while the
        // connection was down were missed, so every waiting handle reads its record again.
        redis.on("ready", () => {
          for (const [channel, listeners] of this.listeners) {
            if (channel === REVOKED_CHANNEL) continue;
            for (const listener of listeners) listener("reconnected");
          }
        });
      }
      return redis;
    });
    // A failed connect is tried again by the next caller.
    opening.catch(() => {
      if (role === "commands" && this.commands === opening) this.commands = undefined;
      if (role === "subscriber" && this.subscriber === opening) this.subscriber = undefined;
    });
    if (role === "commands") this.commands = opening;
    else this.subscriber = opening;
    return opening;
  }

  private async run<R>(action: string, command: (redis: Redis) => Promise<R>): Promise<R> {
    if (this.closed) {
      throw new TaskStoreError(
        action,
        { cause: new Error("the task store is closed (app.stop())") },
        redactUrl(this.url),
      );
    }
    try {
      return await command(await this.connection("commands"));
    } catch (error) {
      throw new TaskStoreError(action, { cause: error }, redactUrl(this.url));
    }
  }
}

/** A record from the fields of its hash; `undefined` for an empty hash (no record). */
export function parseRecord(hash: Record<string, string>): TaskRecord | undefined {
  if (hash.status === undefined) return undefined;
  const status = (TASK_STATUSES as readonly string[]).includes(hash.status)
    ? (hash.status as TaskStatus)
    : "submitted";
  const number = (value: string | undefined): number | undefined =>
    value === undefined || value === "" ? undefined : Number(value);
  const json = (value: string | undefined): unknown => (value === undefined ? undefined : JSON.parse(value));
  const record: Record<string, unknown> = {
    id: hash.id ?? "",
    task: hash.task ?? "",
    status,
    attempt: number(hash.attempt) ?? 0,
    submittedAt: number(hash.submittedAt),
    startedAt: number(hash.startedAt),
    finishedAt: isFinal(status) ? number(hash.finishedAt) : undefined,
    result: status === "succeeded" ? json(hash.result) : undefined,
    error: json(hash.error),
    previous: json(hash.previous),
    next: json(hash.next),
  };
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record as unknown as TaskRecord;
}
