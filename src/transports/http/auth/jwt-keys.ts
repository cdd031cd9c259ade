import { createPublicKey, KeyObject, type webcrypto } from "node:crypto";
import type { JWK } from "jose";
import { InvalidOptionError } from "../../../core/errors.js";

/**
 * The key side of `jwtAuth`: which algorithms a route accepts and the key that verifies them, all
 * checked once, at construction.
 */

/** A JWS algorithm weir accepts in `algorithms`; `none` is not one of them. */
export type JWTAlgorithm =
  | "HS256"
  | "HS384"
  | "HS512"
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "ES256"
  | "ES384"
  | "ES512"
  | "EdDSA"
  | "Ed25519";

/** A public key in any of the forms users hold one. */
export type JWTPublicKey = string | KeyObject | webcrypto.CryptoKey | JWK;

const HMAC = new Set(["HS256", "HS384", "HS512"]);
/** Which algorithms each kind of public key can verify; anything else would fail on every token. */
const BY_KEY_TYPE: Record<string, ReadonlySet<string>> = {
  rsa: new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]),
  "rsa-pss": new Set(["PS256", "PS384", "PS512"]),
  ec: new Set(["ES256", "ES384", "ES512"]),
  ed25519: new Set(["EdDSA", "Ed25519"]),
  ed448: new Set(["EdDSA"]),
};
const ASYMMETRIC = new Set([...Object.values(BY_KEY_TYPE).flatMap((set) => [...set])]);
const MIN_SECRET_BYTES = 32;

export function algorithmsOf(algorithms: readonly JWTAlgorithm[], symmetric: boolean): string[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new InvalidOptionError("jwtAuth.algorithms", 'must be a non-empty list such as ["RS256"]');
  }
  // Mixing HMAC and public-key algorithms is what the HS/RS confusion attack exploits, so a route's
  // key decides the family and the list may not leave it.
  const family = symmetric ? HMAC : ASYMMETRIC;
  for (const alg of algorithms) {
    if (!family.has(alg)) {
      const kind = symmetric ? "a secret" : "a public key";
      throw new InvalidOptionError("jwtAuth.algorithms", `${String(alg)} cannot be used with ${kind}`);
    }
  }
  return [...new Set<string>(algorithms)];
}

export function secretKey(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  if (!(bytes instanceof Uint8Array))
    throw new InvalidOptionError("jwtAuth.secret", "must be a string or bytes");
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new InvalidOptionError("jwtAuth.secret", `must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}

export function publicKeyObject(key: JWTPublicKey, algorithms: readonly string[]): KeyObject {
  let object: KeyObject;
  try {
    // Node 20 has no CryptoKey global to test against; KeyObject.from throws for anything else.
    const given =
      typeof key === "string" || key instanceof KeyObject
        ? key
        : "usages" in key && "algorithm" in key
          ? KeyObject.from(key as webcrypto.CryptoKey)
          : undefined;
    if (given instanceof KeyObject && given.type === "public") object = given;
    // A private key (PEM or object) yields its public half; a secret key throws here.
    else if (given !== undefined) object = createPublicKey(given);
    else object = createPublicKey({ key: key as JWK & { kty: string }, format: "jwk" });
  } catch (error) {
    throw new InvalidOptionError("jwtAuth.publicKey", `not a public key: ${(error as Error).message}`);
  }
  const usable = BY_KEY_TYPE[object.asymmetricKeyType ?? ""];
  const unusable = algorithms.filter((alg) => usable === undefined || !usable.has(alg));
  if (unusable.length > 0) {
    throw new InvalidOptionError(
      "jwtAuth.algorithms",
      `a ${String(object.asymmetricKeyType)} key cannot verify ${unusable.join(", ")}`,
    );
  }
  return object;
}

/**
 * The key set's URL, checked here; jose's remote key set is built from it when the first token is
 * checked (jose itself is imported then, see jwt.ts).
 */
export function remoteKeySetUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError("jwtAuth.jwksUrl", "not a URL");
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new InvalidOptionError("jwtAuth.jwksUrl", "must be an http(s) URL");
  }
  return parsed;
}
