import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { Lock, type LockHandle, LockLostError, RedisConnection, type WeirError } from "../../src/index.js";
import { REDIS_URL, RedisHelper, silentLogger } from "../helpers/redis.js";
import { jsonLines, startFixture } from "../helpers/run-fixture.js";

const FIXTURE = join(import.meta.dirname, "fixtures/lock-fixture.ts");
const helper = new RedisHelper();
const redis = () => helper.client;

afterAll(() => helper.close());

/** A lock name and log list no other test uses, deleted at the end. */
function names(): { lock: string; key: string; log: string } {
  const lock = `test-${randomUUID().slice(0, 8)}`;
  const log = `weir-test:lock-log:${lock}`;
  for (const key of [`weir:lock:${lock}`, log, `${log}:ready`, `${log}:n`]) helper.track(key);
  return { lock, key: `weir:lock:${lock}`, log };
}

async function rejection(promise: Promise<unknown>): Promise<WeirError> {
  try {
    await promise;
  } catch (error) {
    return error as WeirError;
  }
  throw new Error("expected a rejection");
}

/** Polls until the key is gone (its ttl ran out), at most 10 s. */
async function expired(key: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await helper.client.exists(key)) === 0) return;
    await sleep(20);
  }
  throw new Error(`${key} never expired`);
}

describe("Lock (real Redis)", () => {
  it("two processes never hold it at once", async () => {
    const { lock, log } = names();
    const env = { REDIS_URL, MODE: "contend", LOG: log, LOCK: lock, PEERS: "2", ROUNDS: "40" };
    const children = ["a", "b"].map((id) => startFixture(FIXTURE, { ...env, ID: id }));
    const results = await Promise.all(children.map((child) => child.waitExit(60_000)));
    for (const result of results) expect(result.code, result.stderr).toBe(0);

    const events = (await helper.client.lrange(log, 0, -1)).map((line) => {
      const [what, id, n] = line.split(" ");
      return { what, id, n: Number(n) };
    });
    expect(events).toHaveLength(2 * 2 * 40);
    let holder: string | undefined;
    let switches = 0;
    let previous: string | undefined;
    for (const [index, event] of events.entries()) {
      // The list's order and the shared counter's agree: one global order of what happened.
      if (index > 0) expect(event.n).toBeGreaterThan(events[index - 1]!.n);
      if (event.what === "enter") {
        expect(holder, `entered by ${event.id} while ${holder} held it (event ${index})`).toBeUndefined();
        holder = event.id;
        if (previous !== undefined && previous !== event.id) switches++;
        previous = event.id;
      } else {
        expect(holder).toBe(event.id);
        holder = undefined;
      }
    }
    // Both took it, in turns: the two really contended.
    expect(switches).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it("a holder blocks another process until it releases", async () => {
    const { lock, log } = names();
    const mine = await new Lock(redis, lock, { ttl: 30_000 }).acquire();
    const waiter = startFixture(FIXTURE, { REDIS_URL, MODE: "wait", LOG: log, LOCK: lock, ID: "waiter" });
    try {
      await waiter.waitForOutput(/"trying":true/, 30_000);
      // Long enough for dozens of its tries (every 10 ms): none may have got in.
      await sleep(500);
      expect(await helper.client.lrange(log, 0, -1)).toEqual([]);
      await helper.client.rpush(log, "releasing");
      await mine.release();
      const result = await waiter.waitExit(30_000);
      expect(result.code, result.stderr).toBe(0);
      expect(await helper.client.lrange(log, 0, -1)).toEqual(["releasing", "acquired waiter"]);
    } finally {
      waiter.kill();
    }
  }, 60_000);

  it("a lock its owner abandoned expires and is taken by another process", async () => {
    const { lock, key } = names();
    const crashed = startFixture(FIXTURE, {
      REDIS_URL,
      MODE: "abandon",
      LOG: "-",
      LOCK: lock,
      ID: "a",
      TTL: "1000",
    });
    const result = await crashed.waitExit(30_000);
    expect(result.code, result.stderr).toBe(0);
    const [{ token }] = jsonLines(result.stdout) as [{ token: string }];
    const handle = await new Lock(redis, lock, { ttl: 5_000, wait: 10_000 }).acquire();
    expect(handle.token).not.toBe(token);
    expect(await helper.client.get(key)).toBe(handle.token);
    await handle.release();
    expect(await helper.client.exists(key)).toBe(0);
  }, 60_000);

  it("release and extend by an owner whose hold expired throw WEIR_ERR_LOCK_LOST, and leave the new owner alone", async () => {
    const { lock, key } = names();
    const first = await new Lock(redis, lock, { ttl: 200 }).acquire();
    await expired(key);
    const second = await new Lock(redis, lock, { ttl: 10_000 }).acquire();
    const released = await rejection(first.release());
    expect(released).toBeInstanceOf(LockLostError);
    expect(released.code).toBe("WEIR_ERR_LOCK_LOST");
    expect((await rejection(first.extend())).code).toBe("WEIR_ERR_LOCK_LOST");
    expect(await helper.client.get(key)).toBe(second.token);
    await second.release();
    // Released once: a second release of the same handle does nothing; an extend refuses.
    await second.release();
    expect((await rejection(second.extend())).code).toBe("WEIR_ERR_LOCK_LOST");
  });

  it("extend keeps it past its first ttl", async () => {
    const { lock, key } = names();
    const handle = await new Lock(redis, lock, { ttl: 300 }).acquire();
    const before = handle.expiresAt;
    await handle.extend(10_000);
    expect(handle.expiresAt).toBeGreaterThan(before);
    await sleep(600);
    expect(await helper.client.get(key)).toBe(handle.token);
    expect(await new Lock(redis, lock, { ttl: 300 }).tryAcquire()).toBeUndefined();
    await handle.release();
    expect(await new Lock(redis, lock, { ttl: 300 }).tryAcquire()).toBeDefined();
  });

  it("acquire gives up after its wait with WEIR_ERR_LOCK_TIMEOUT, and stops at once on an aborted signal", async () => {
    const { lock } = names();
    const held = await new Lock(redis, lock, { ttl: 10_000 }).acquire();
    const other = new Lock(redis, lock, { ttl: 1_000, retryDelay: 10 });
    expect((await rejection(other.acquire())).code).toBe("WEIR_ERR_LOCK_TIMEOUT");
    expect((await rejection(other.acquire({ wait: 100 }))).code).toBe("WEIR_ERR_LOCK_TIMEOUT");
    const controller = new AbortController();
    const waiting = rejection(other.acquire({ wait: 20_000, signal: controller.signal }));
    controller.abort(new Error("gave up"));
    expect((await waiting).message).toBe("gave up");
    await held.release();
  });

  it("using() extends the hold while its function runs, then releases it", async () => {
    const { lock, key } = names();
    const other = new Lock(redis, lock, { ttl: 1_000 });
    const result = await new Lock(redis, lock, { ttl: 300 }).using(async (handle, signal) => {
      // Four ttls long: without the extensions another owner could take it half way.
      for (let i = 0; i < 12; i++) {
        await sleep(100);
        expect(await other.tryAcquire()).toBeUndefined();
      }
      expect(signal.aborted).toBe(false);
      expect(await helper.client.get(key)).toBe(handle.token);
      return "done";
    });
    expect(result).toBe("done");
    expect(await helper.client.exists(key)).toBe(0);
  });

  it("using() aborts its function's signal when the lock is lost, and rejects with WEIR_ERR_LOCK_LOST", async () => {
    const { lock, key } = names();
    let seen: unknown;
    const failure = await rejection(
      new Lock(redis, lock, { ttl: 300 }).using(async (_handle: LockHandle, signal) => {
        // Another hand takes the key away: the next extension finds it gone.
        await helper.client.del(key);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          });
        });
        seen = signal.reason;
      }),
    );
    expect(seen).toBeInstanceOf(LockLostError);
    expect(failure.code).toBe("WEIR_ERR_LOCK_LOST");
  });

  it("using() rethrows its function's error once the lock is released", async () => {
    const { lock, key } = names();
    const failure = await rejection(
      new Lock(redis, lock, { ttl: 5_000 }).using(async () => {
        throw new Error("the import failed");
      }),
    );
    expect(failure.message).toBe("the import failed");
    expect(await helper.client.exists(key)).toBe(0);
  });

  it("keeps its key under keyPrefix", async () => {
    const { lock } = names();
    const key = `weir-test:other-prefix:${lock}`;
    helper.track(key);
    const handle = await new Lock(redis, lock, { ttl: 5_000 }, "weir-test:other-prefix:").acquire();
    expect(await helper.client.get(key)).toBe(handle.token);
    await handle.release();
  });

  it("RedisConnection reads its URL as the app's redis option does", async () => {
    expect(() => new RedisConnection({ url: "http://127.0.0.1:6379" }, silentLogger)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
    const connection = new RedisConnection({ url: REDIS_URL }, silentLogger);
    const { lock } = names();
    const handle = await new Lock(connection.client, lock, { ttl: 5_000 }).acquire();
    await handle.release();
    await connection.close();
  });

  it("refuses bad options with WEIR_ERR_INVALID_OPTION", () => {
    const bad: unknown[] = [
      {},
      { ttl: 0 },
      { ttl: 1.5 },
      { ttl: 100, wait: -1 },
      { ttl: 100, retryDelay: 0 },
      { ttl: 100, tll: 5 },
    ];
    for (const options of bad) {
      expect(() => new Lock(redis, "x", options as { ttl: number })).toThrow(
        expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
      );
    }
    expect(() => new Lock(redis, "", { ttl: 100 })).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
    );
  });
});
