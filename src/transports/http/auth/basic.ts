import type { FastifyRequest } from "fastify";
import { InvalidOptionError } from "../../../core/errors.js";
import { knownKeys } from "../../../core/validate.js";
import { type AuthClaims, type Authorizer, challengeFor } from "./authorizer.js";
import { type BasicCredentials, basicCredentials } from "./credentials.js";
import { checkPassword, decoyHash, type ParsedHash, parsePasswordHash } from "./password.js";

/** Checks a user name and password; only `true` lets the request through. */
export type BasicAuthVerify = (
  username: string,
  password: string,
  request: FastifyRequest,
) => boolean | Promise<boolean>;

interface BasicAuthCommonOptions {
  /**
   * The protection space named in the `WWW-Authenticate` challenge; browsers show it in their prompt.
   * @defaultValue "weir"
   */
  realm?: string;
}

/** Basic auth checked by your own function (a database, an identity service, ...). */
export interface BasicAuthVerifyOptions extends BasicAuthCommonOptions {
  /** Your check. A throw is a failure of the check itself: a logged 500, not a 401. */
  verify: BasicAuthVerify;
  users?: undefined;
}

/** Basic auth against a fixed table of users. */
export interface BasicAuthUsersOptions extends BasicAuthCommonOptions {
  /** User name → hash made by `hashPassword()` (typically read from the environment). */
  users: Readonly<Record<string, string>>;
  verify?: undefined;
}

export type BasicAuthOptions = BasicAuthVerifyOptions | BasicAuthUsersOptions;

/** A check of decoded credentials, built once from the options. */
export type PasswordCheck = (credentials: BasicCredentials, request: FastifyRequest) => Promise<boolean>;

const BASIC_KEYS = ["verify", "users", "realm"];

function usersCheck(users: Readonly<Record<string, string>>, where: string): PasswordCheck {
  if (typeof users !== "object" || users === null) {
    throw new InvalidOptionError(`${where}.users`, "must be an object of user name → password hash");
  }
  // A Map, not the object: a user called "__proto__" or "constructor" must not find Object's members.
  const table = new Map<string, ParsedHash>();
  for (const [name, hash] of Object.entries(users)) {
    table.set(name, parsePasswordHash(hash, `${where}.users.${name}`));
  }
  const decoy = decoyHash(table.values().next().value);
  return async ({ username, password }) => {
    const known = table.get(username);
    // Unknown users still pay for a full scrypt check, so timing does not reveal which names exist.
    const matches = await checkPassword(password, known ?? decoy);
    return matches && known !== undefined;
  };
}

/** Validates basic-auth options (shared by the cached variant) and builds the password check. */
export function passwordCheck(
  options: BasicAuthOptions,
  where: string,
  extraKeys: string[] = [],
): PasswordCheck {
  knownKeys(where, options, [...BASIC_KEYS, ...extraKeys]);
  const { verify, users } = options;
  if ((verify === undefined) === (users === undefined)) {
    throw new InvalidOptionError(where, "give exactly one of `verify` and `users`");
  }
  if (users !== undefined) return usersCheck(users, where);
  if (typeof verify !== "function") throw new InvalidOptionError(`${where}.verify`, "must be a function");
  return async ({ username, password }, request) => (await verify(username, password, request)) === true;
}

/** The Basic challenge; RFC 7617's charset tells clients to send UTF-8. */
export function basicChallenge(realm: unknown, where: string): string {
  return challengeFor("Basic", realm, `${where}.realm`, ', charset="UTF-8"');
}

/** The claims of a basic-auth caller: `sub` is the user name. */
export function basicClaims(credentials: BasicCredentials): AuthClaims {
  return { sub: credentials.username };
}

/**
 * HTTP Basic authentication (RFC 7617), checked on every request. With `users`, passwords are
 * checked against salted scrypt hashes in constant time; see `cachedBasicAuth` to skip repeated checks.
 *
 * ```ts
 * app.http.get("/admin", { auth: basicAuth({ users: { admin: process.env.ADMIN_HASH! } }) }, handler);
 * ```
 */
export function basicAuth(options: BasicAuthOptions): Authorizer {
  const check = passwordCheck(options, "basicAuth");
  const challenge = basicChallenge(options.realm, "basicAuth");
  return {
    challenge,
    async authorize(request) {
      const credentials = basicCredentials(request);
      if (credentials === undefined) return undefined;
      return (await check(credentials, request)) ? basicClaims(credentials) : undefined;
    },
  };
}
