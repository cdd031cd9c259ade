/**
 * `weir/http`: the HTTP transport's public API (its plugin, route spec and handler types, the
 * `app.http` facade, authorizers, errors). The root `weir` exports all of it too. Importing it does
 * not load fastify: that happens when weir's server is first used.
 */
export * from "./auth/index.js";
export {
  AuthUnavailableError,
  DuplicateRouteError,
  HTTPRouteError,
  HTTPStartError,
  PortInUseError,
  ReservedPathError,
} from "./errors.js";
export type { HTTPFacade, HTTPPlugin, HTTPShorthand, HTTPShorthandOptions } from "./facade.js";
export type { HTTPOptions, HTTPServerOptions } from "./options.js";
export { httpTransport } from "./plugin.js";
export type { HTTPErrorBody } from "./replies.js";
export { HTTP_METHODS, type HTTPHandler, type HTTPMethod, type HTTPRouteSpec } from "./route-spec.js";
export type { HTTPAddress } from "./server.js";
