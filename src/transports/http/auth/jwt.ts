import type { KeyObject } from "node:crypto";
import type * as Jose from "jose";
import type { JWTVerifyGetKey } from "jose";
import { InvalidOptionError } from "../../../core/errors.js";
import { knownKeys } from "../../../core/validate.js";
import { AuthUnavailableError } from "../errors.js";
import { type Authorizer, challengeFor } from "./authorizer.js";
import { bearerToken } from "./credentials.js";
import {
  algorithmsOf,
  type JWTAlgorithm,
  type JWTPublicKey,
  publicKeyObject,
  remoteKeySetUrl,
  secretKey,
} from "./jwt-keys.js";

export type { JWTAlgorithm, JWTPublicKey } from "./jwt-keys.js";

/** Bearer-token authorization: exactly one of `secret`, `publicKey` and `jwksUrl` says which key signs. */
export interface JWTAuthOptions {
  /**
   * The shared secret of HS256/384/512 tokens, as a string (its UTF-8 bytes) or bytes. At least 32
   * bytes (RFC 7518 §3.2): a shorter secret can be brute-forced from one token.
   * @defaultValue none
   */
  secret?: string | Uint8Array;
  /**
   * The public key of RS/PS/ES/EdDSA tokens: a PEM string (public key or certificate), a `KeyObject`,
   * a WebCrypto `CryptoKey` or a JWK.
   * @defaultValue none
   */
  publicKey?: JWTPublicKey;
  /**
   * The issuer's JSON Web Key Set; keys are fetched on first use and refetched for an unknown `kid`.
   * @defaultValue none
   */
  jwksUrl?: string | URL;
  /** The algorithms a token may be signed with. Required, so a token cannot choose a weaker one. */
  algorithms: readonly JWTAlgorithm[];
  /**
   * The `iss` a token must carry (one of them, for a list).
   * @defaultValue not checked
   */
  issuer?: string | readonly string[];
  /**
   * The `aud` a token must carry (one of them, for a list).
   * @defaultValue not checked
   */
  audience?: string | readonly string[];
  /**
   * Clock skew tolerated when checking `exp` and `nbf`, in seconds.
   * @defaultValue 0
   */
  clockTolerance?: number;
  /**
   * Refuse tokens without `exp`: a token that never expires cannot be revoked by waiting.
   * @defaultValue true
   */
  requireExpiry?: boolean;
  /**
   * The protection space named in the `WWW-Authenticate` challenge.
   * @defaultValue "weir"
   */
  realm?: string;
}

const KEYS = [
  "secret",
  "publicKey",
  "jwksUrl",
  "algorithms",
  "issuer",
  "audience",
  "clockTolerance",
  "requireExpiry",
  "realm",
];

function stringList(option: string, value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((v) => typeof v !== "string" || v === "")) {
    throw new InvalidOptionError(option, "must be a non-empty string or list of strings");
  }
  return [...list];
}

/**
 * jose errors that say the key set failed, not the token: no answer, an HTTP error, not JSON, no
 * valid keys. jose throws its generic JOSEError only while fetching a key set.
 */
const KEY_SET_FAILURES = new Set([
  "ERR_JOSE_GENERIC",
  "ERR_JWKS_TIMEOUT",
  "ERR_JWKS_INVALID",
  "ERR_JWK_INVALID",
]);

/**
 * A token the key or the claims refuse is a 401; a key set that cannot be fetched or parsed is the
 * server's problem: a logged 503, so that clients retry instead of dropping good credentials.
 */
function isTokenRefusal(jose: typeof Jose, error: unknown): boolean {
  return error instanceof jose.errors.JOSEError && !KEY_SET_FAILURES.has(error.code);
}

let loading: Promise<typeof Jose> | undefined;

/**
 * jose, imported when the first token is checked rather than with weir (issue #16): an app without
 * JWT routes never loads it. (It is an ES module only, so it cannot be required synchronously on
 * every Node that weir supports; checking a token is asynchronous anyway.)
 */
function loadJose(): Promise<typeof Jose> {
  loading ??= import("jose");
  return loading;
}

/**
 * JWT bearer-token authorization on jose: checks the signature, `exp`, `nbf`, and the issuer and
 * audience when given. Unsigned tokens (`alg: none`) and algorithms outside `algorithms` are refused.
 * The verified claims are `request.auth`.
 *
 * ```ts
 * const auth = jwtAuth({ secret: process.env.JWT_SECRET!, algorithms: ["HS256"], issuer: "https://id.example" });
 * app.http.get("/me", { auth }, async (request) => ({ user: request.auth?.sub }));
 * ```
 */
export function jwtAuth(options: JWTAuthOptions): Authorizer {
  knownKeys("jwtAuth", options, KEYS);
  const { secret, publicKey, jwksUrl } = options;
  const sources = [secret, publicKey, jwksUrl].filter((source) => source !== undefined).length;
  if (sources !== 1) {
    throw new InvalidOptionError("jwtAuth", "give exactly one of `secret`, `publicKey` and `jwksUrl`");
  }
  const algorithms = algorithmsOf(options.algorithms, secret !== undefined);
  const staticKey: Uint8Array | KeyObject | undefined =
    secret !== undefined
      ? secretKey(secret)
      : publicKey !== undefined
        ? publicKeyObject(publicKey, algorithms)
        : undefined;
  const keySetUrl = staticKey === undefined ? remoteKeySetUrl(jwksUrl as string | URL) : undefined;
  /** One remote key set for the authorizer's life: it caches the keys it fetched. */
  let keySet: JWTVerifyGetKey | undefined;
  const clockTolerance = options.clockTolerance ?? 0;
  if (typeof clockTolerance !== "number" || !Number.isFinite(clockTolerance) || clockTolerance < 0) {
    throw new InvalidOptionError("jwtAuth.clockTolerance", "must be a number of seconds >= 0");
  }
  const verifyOptions = {
    algorithms,
    issuer: stringList("jwtAuth.issuer", options.issuer),
    audience: stringList("jwtAuth.audience", options.audience),
    clockTolerance,
    requiredClaims: options.requireExpiry === false ? [] : ["exp"],
  };
  const challenge = challengeFor("Bearer", options.realm, "jwtAuth.realm");

  return {
    challenge,
    async authorize(request) {
      const token = bearerToken(request);
      if (token === undefined) return undefined;
      const jose = await loadJose();
      if (staticKey === undefined) keySet ??= jose.createRemoteJWKSet(keySetUrl as URL);
      try {
        // The overloads differ by key kind only; the union is what jose accepts at run time.
        const { payload } =
          staticKey !== undefined
            ? await jose.jwtVerify(token, staticKey, verifyOptions)
            : await jose.jwtVerify(token, keySet as JWTVerifyGetKey, verifyOptions);
        return payload;
      } catch (error) {
        if (isTokenRefusal(jose, error)) return undefined;
        throw new AuthUnavailableError("the token could not be checked: its key set is unavailable", {
          cause: error,
        });
      }
    },
  };
}
