/**
 * `weir/sse`: the Server-Sent Events transport's public API (its plugin, route spec and handler
 * types, events, errors). The root `weir` exports all of it too. Importing it does not load
 * eventsource-parser: that happens when the first stream connects.
 */
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
export { sseTransport } from "./plugin.js";
export {
  type SSEExceptionAction,
  SSEExceptionActions,
  type SSEHandler,
  type SSERetryOptions,
  type SSERouteOptions,
  type SSERouteSpec,
} from "./route-spec.js";
