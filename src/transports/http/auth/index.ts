export type { AuthClaims, Authorizer } from "./authorizer.js";
export {
  type BasicAuthOptions,
  type BasicAuthUsersOptions,
  type BasicAuthVerify,
  type BasicAuthVerifyOptions,
  basicAuth,
} from "./basic.js";
export { type CachedBasicAuthOptions, cachedBasicAuth } from "./cached-basic.js";
export { type JWTAlgorithm, type JWTAuthOptions, type JWTPublicKey, jwtAuth } from "./jwt.js";
export { type HashPasswordOptions, hashPassword, verifyPassword } from "./password.js";
