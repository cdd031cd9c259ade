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
export type { HTTPErrorBody } from "./replies.js";
export { HTTP_METHODS, type HTTPHandler, type HTTPMethod, type HTTPRouteSpec } from "./route-spec.js";
export type { HTTPAddress } from "./server.js";
