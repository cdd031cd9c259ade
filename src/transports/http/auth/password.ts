import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";
import { InvalidOptionError } from "../../../core/errors.js";
import { knownKeys } from "../../../core/validate.js";

/**
 * Salted scrypt password hashes, alfred's PasswordSaltType: each hash carries its own random salt and
 * cost, in the PHC string format `$scrypt$ln=14,r=8,p=1$<salt>$<hash>` (unpadded base64).
 */

export interface HashPasswordOptions {
  /**
   * scrypt's CPU/memory cost as a power of two (N = 2^cost); each step doubles the time and memory
   * of a check. 14 costs about 16 MiB and a few tens of milliseconds per check.
   * @defaultValue 14
   */
  cost?: number;
}

export interface ParsedHash {
  readonly params: Required<Pick<ScryptOptions, "N" | "r" | "p">>;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const DEFAULT_COST = 14;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds on what a stored hash may ask for, so one bad entry cannot make each check take gigabytes.
const MIN_COST = 10;
const MAX_COST = 20;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/;

function derive(
  password: string,
  salt: Buffer,
  params: ParsedHash["params"],
  length: number,
): Promise<Buffer> {
  // scrypt refuses work needing more than `maxmem` (32 MiB by default); 128·N·r is what it needs.
  const maxmem = 256 * params.N * params.r;
  return new Promise((resolve, reject) => {
    // NFC: the same password typed on two keyboards may arrive as different code points.
    scrypt(password.normalize("NFC"), salt, length, { ...params, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

function encode(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "");
}

/** Parses a stored hash; throws an `InvalidOptionError` naming `option` when it is not one of ours. */
export function parsePasswordHash(stored: string, option = "hash"): ParsedHash {
  const match = typeof stored === "string" ? PHC.exec(stored) : null;
  if (match === null) {
    throw new InvalidOptionError(option, "not a password hash made by hashPassword()");
  }
  const [, ln, r, p, salt, hash] = match as unknown as [string, string, string, string, string, string];
  const cost = Number(ln);
  if (
    cost < MIN_COST ||
    cost > MAX_COST ||
    Number(r) < 1 ||
    Number(r) > 32 ||
    Number(p) < 1 ||
    Number(p) > 16
  ) {
    throw new InvalidOptionError(option, `scrypt parameters out of range (ln ${MIN_COST}..${MAX_COST})`);
  }
  return {
    params: { N: 2 ** cost, r: Number(r), p: Number(p) },
    salt: Buffer.from(salt, "base64"),
    hash: Buffer.from(hash, "base64"),
  };
}

/** Hashes a password for `basicAuth({ users })`: store the result, never the password. */
export async function hashPassword(password: string, options: HashPasswordOptions = {}): Promise<string> {
  if (typeof password !== "string") throw new InvalidOptionError("password", "must be a string");
  knownKeys("hashPassword", options, ["cost"]);
  const cost = options.cost ?? DEFAULT_COST;
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) {
    throw new InvalidOptionError("cost", `must be an integer between ${MIN_COST} and ${MAX_COST}`);
  }
  const params = { N: 2 ** cost, r: BLOCK_SIZE, p: PARALLELISM };
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, KEY_BYTES);
  return `$scrypt$ln=${cost},r=${params.r},p=${params.p}$${encode(salt)}$${encode(hash)}`;
}

/** Checks a password against a parsed hash in constant time. */
export async function checkPassword(password: string, parsed: ParsedHash): Promise<boolean> {
  const candidate = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(candidate, parsed.hash);
}

/** Checks `password` against a hash made by `hashPassword`, in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  return checkPassword(password, parsePasswordHash(stored));
}

/**
 * A hash no password matches, checked for unknown users so that "no such user" takes as long as
 * "wrong password" (same scrypt parameters as `like`) and response times do not reveal user names.
 */
export function decoyHash(like?: ParsedHash): ParsedHash {
  return {
    params: like?.params ?? { N: 2 ** DEFAULT_COST, r: BLOCK_SIZE, p: PARALLELISM },
    salt: randomBytes(SALT_BYTES),
    hash: randomBytes(like?.hash.length ?? KEY_BYTES),
  };
}
