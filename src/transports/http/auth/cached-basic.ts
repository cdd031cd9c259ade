import { createHmac, randomBytes } from "node:crypto";
import { duration, positiveInteger } from "../../../core/validate.js";
import type { Authorizer } from "./authorizer.js";
import { type BasicAuthOptions, basicChallenge, basicClaims, passwordCheck } from "./basic.js";
import { basicCredentials } from "./credentials.js";

/** `basicAuth` options plus how long a successful check is remembered. */
export type CachedBasicAuthOptions = BasicAuthOptions & {
  /**
   * How long a successful check is reused without calling `verify` (or scrypt) again, in ms.
   * @defaultValue 60000
   */
  ttl?: number;
  /**
   * Most credentials remembered at once; past it the oldest entry is dropped.
   * @defaultValue 1000
   */
  maxEntries?: number;
};

/**
 * `basicAuth` that remembers successful checks for `ttl` ms (alfred's basic_auth_cached_authorizer):
 * worth it when `verify` calls a remote service or the users' hashes are expensive to check.
 * Failures are never cached, so a wrong password costs a full check every time.
 */
export function cachedBasicAuth(options: CachedBasicAuthOptions): Authorizer {
  const check = passwordCheck(options, "cachedBasicAuth", ["ttl", "maxEntries"]);
  const challenge = basicChallenge(options.realm, "cachedBasicAuth");
  const ttl = duration("cachedBasicAuth.ttl", options.ttl, 60_000);
  const maxEntries = positiveInteger("cachedBasicAuth.maxEntries", options.maxEntries, 1000);
  // Keyed by an HMAC under a key that never leaves this process: the cache holds no password, and a
  // copy of it (a heap dump) gives no hash to brute-force offline without the key.
  const key = randomBytes(32);
  const expiries = new Map<string, number>();

  const cacheKey = (username: string, password: string): string =>
    // Both parts are free of control characters (see credentials.ts), so "\0" separates them unambiguously.
    createHmac("sha256", key).update(username).update("\0").update(password).digest("base64");

  return {
    challenge,
    async authorize(request) {
      const credentials = basicCredentials(request);
      if (credentials === undefined) return undefined;
      const entry = cacheKey(credentials.username, credentials.password);
      const expires = expiries.get(entry);
      if (expires !== undefined) {
        if (expires > Date.now()) return basicClaims(credentials);
        expiries.delete(entry);
      }
      if (!(await check(credentials, request))) return undefined;
      // Re-inserting keeps the Map in expiry order, so the first key is always the oldest to drop.
      expiries.delete(entry);
      expiries.set(entry, Date.now() + ttl);
      if (expiries.size > maxEntries) {
        const oldest = expiries.keys().next().value;
        if (oldest !== undefined) expiries.delete(oldest);
      }
      return basicClaims(credentials);
    },
  };
}
