export {
  SSEDuplicateStreamError,
  SSEHandlerError,
  SSEHTTPStatusError,
  SSEMissingURLError,
  SSEStreamError,
  type SSEStreamErrorCode,
} from "./errors.js";
export { SSEEvent } from "./event.js";
export type { SSEConnectionOptions, SSEHeaders, SSEOptions, SSEReconnectOptions } from "./options.js";
export {
  type SSEExceptionAction,
  SSEExceptionActions,
  type SSEHandler,
  type SSERetryOptions,
  type SSERouteOptions,
  type SSERouteSpec,
} from "./route-spec.js";
