import type { FastifyRequest } from "fastify";

/**
 * Longest Authorization header weir looks at. Real credentials are far shorter; refusing early keeps
 * a hostile header from reaching base64 decoding, JSON parsing or scrypt.
 */
const MAX_AUTHORIZATION_LENGTH = 8192;

/**
 * The credentials after `scheme` in the Authorization header (scheme matched case-insensitively, as
 * RFC 9110 requires), or `undefined` when the header is absent, too long or of another scheme.
 */
export function credentialsFor(request: FastifyRequest, scheme: string): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== "string" || header.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  const space = header.indexOf(" ");
  if (space !== scheme.length || header.slice(0, space).toLowerCase() !== scheme.toLowerCase()) {
    return undefined;
  }
  const value = header.slice(space + 1).trim();
  return value.length > 0 ? value : undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// RFC 7617 forbids control characters in both parts; refusing them also keeps log lines and the
// cache key's separator unambiguous.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/** Decodes `Basic` credentials; anything but canonical base64 of valid UTF-8 `user:password` is refused. */
export function basicCredentials(request: FastifyRequest): BasicCredentials | undefined {
  const value = credentialsFor(request, "Basic");
  if (value === undefined || value.length % 4 !== 0 || !BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, "base64");
  // Node's decoder skips bad characters silently; the round trip makes "almost base64" a refusal.
  if (bytes.toString("base64") !== value) return undefined;
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  const username = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (CONTROL.test(username) || CONTROL.test(password)) return undefined;
  return { username, password };
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The token of a `Bearer` header when it has the shape of a compact JWS, else `undefined`. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const value = credentialsFor(request, "Bearer");
  return value !== undefined && COMPACT_JWS.test(value) ? value : undefined;
}
