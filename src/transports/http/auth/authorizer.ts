import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import type { JWTPayload } from "jose";
import { InvalidOptionError } from "../../../core/errors.js";

/**
 * What an authorizer verified about the caller. For `jwtAuth` these are the token's claims; for the
 * basic authorizers `sub` is the user name. The same shape for both lets a handler read
 * `request.auth?.sub` whatever the route's scheme.
 */
export type AuthClaims = JWTPayload;

declare module "fastify" {
  interface FastifyRequest {
    /** The claims the route's authorizer verified; `undefined` on routes without `auth`. */
    auth?: AuthClaims;
  }
}

/**
 * Guards an HTTP route (`auth` in the route definition). weir ships `basicAuth`, `cachedBasicAuth` and
 * `jwtAuth`; any object of this shape works.
 */
export interface Authorizer {
  /** The `WWW-Authenticate` challenge sent with every 401, e.g. `Basic realm="weir"`. */
  readonly challenge: string;
  /**
   * Resolves the verified claims, or `undefined` to refuse the request with a 401. Bad input of any
   * kind must resolve `undefined`: a throw means the check itself failed (a database down) and
   * becomes a logged 500.
   */
  authorize(request: FastifyRequest): Promise<AuthClaims | undefined>;
}

/** The one body of every refusal: which check failed, and why, would help a guesser. */
export const UNAUTHORIZED_BODY = Object.freeze({
  statusCode: 401,
  error: "Unauthorized",
  message: "Unauthorized",
});

/**
 * The route's `onRequest` hook. Authorization runs before the body is read and validated, so an
 * anonymous caller can neither make the server parse a large body nor learn the route's schema.
 */
export function authorizationHook(authorizer: Authorizer): onRequestAsyncHookHandler {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const claims = await authorizer.authorize(request);
    if (claims === undefined) {
      request.log.debug({ route: request.routeOptions.url }, "request not authorized");
      return reply
        .code(401)
        .header("www-authenticate", authorizer.challenge)
        .header("cache-control", "no-store")
        .send(UNAUTHORIZED_BODY);
    }
    request.auth = claims;
  };
}

/** Checks a user-supplied authorizer at registration. */
export function isAuthorizer(value: unknown): value is Authorizer {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<Authorizer>;
  return typeof candidate.challenge === "string" && typeof candidate.authorize === "function";
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: a realm with control characters breaks the header.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A `WWW-Authenticate` challenge such as `Basic realm="weir"`. The realm is checked once, at
 * construction, because a bad one would make every refusal an invalid header.
 */
export function challengeFor(scheme: string, realm: unknown, option: string, params = ""): string {
  const value = realm ?? "weir";
  if (typeof value !== "string" || value.length === 0 || CONTROL.test(value)) {
    throw new InvalidOptionError(option, "must be a non-empty string without control characters");
  }
  // A quoted-string (RFC 9110 §5.6.4): backslash and double quote are escaped.
  return `${scheme} realm="${value.replace(/[\\"]/g, "\\$&")}"${params}`;
}
