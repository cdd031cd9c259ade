import type { Redis } from "ioredis";

/**
 * Who fires a tick: every process running the schedule sends this at the tick, and the one whose
 * `SET <prefix><name>:<tick-epoch-ms> <token> NX PX <ms>` succeeds fires it; the others find the key
 * taken. The same script records the newest fired tick in `<prefix><name>:last` (no TTL: one key per
 * schedule), which `catchUp` reads at start to tell whether a tick was missed. One script, so a
 * claimed tick is always recorded.
 *
 * KEYS[1] the tick's key, KEYS[2] the `last` key; ARGV[1] the token, ARGV[2] the claim's ttl in ms,
 * ARGV[3] the tick in epoch ms. Returns 1 if this caller won the tick, 0 if another had.
 */
const CLAIM_SCRIPT = `
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  local last = tonumber(redis.call("GET", KEYS[2]))
  if last == nil or last < tonumber(ARGV[3]) then
    redis.call("SET", KEYS[2], ARGV[3])
  end
  return 1
end
return 0
`;

/** The keys of one schedule. */
export interface ScheduleKeys {
  tick(tick: number): string;
  readonly last: string;
}

export function scheduleKeys(prefix: string, name: string): ScheduleKeys {
  return { tick: (tick) => `${prefix}${name}:${tick}`, last: `${prefix}${name}:last` };
}

/** Tries to win `tick` (epoch ms); true if this caller fires it. */
export async function claimTick(
  client: Redis,
  keys: ScheduleKeys,
  tick: number,
  token: string,
  ttl: number,
): Promise<boolean> {
  const won = await client.eval(CLAIM_SCRIPT, 2, keys.tick(tick), keys.last, token, ttl, tick);
  return won === 1;
}

/** The newest tick fired so far (epoch ms), or `undefined` if none ever was. */
export async function lastFiredTick(client: Redis, keys: ScheduleKeys): Promise<number | undefined> {
  const last = await client.get(keys.last);
  if (last === null) return undefined;
  const tick = Number(last);
  return Number.isFinite(tick) ? tick : undefined;
}
