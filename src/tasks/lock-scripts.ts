/**
 * The lock's commands, after the single-instance pattern of the Redis docs ("Distributed Locks with
 * Redis", the `SET resource token NX PX ttl` part; not the multi-node Redlock algorithm, since weir
 * talks to one Redis):
 *
 * - acquire: `SET key token NX PX ttl`, a plain command: the key exists only while someone owns it,
 *   and expires by itself if its owner dies.
 * - release and extend must act only if the key still holds *this* owner's token: a GET then DEL from
 *   the client could delete a lock that expired in between and was taken by another. A Lua script
 *   runs atomically on the server, so the compare and the act cannot be split.
 *
 * Both scripts return 1 when they acted and 0 when the key is gone or another owner's.
 */

/** KEYS[1] the lock, ARGV[1] the owner's token: deletes the key only if it still holds the token. */
export const RELEASE_SCRIPT = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
`;

/** KEYS[1] the lock, ARGV[1] the token, ARGV[2] the new ttl in ms: resets the ttl only if the token still owns the key. */
export const EXTEND_SCRIPT = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`;
