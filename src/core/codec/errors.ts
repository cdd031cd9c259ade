import { WeirError } from "../errors.js";

/** Why a body could not be decoded; stable, recorded as `x-weir-error-code` on its dead letter. */
export type InvalidBodyCode =
  /** A JSON (or untyped) body that does not parse. */
  | "WEIR_ERR_INVALID_JSON"
  /** Its `charset` is one Node's TextDecoder does not know. */
  | "WEIR_ERR_BODY_CHARSET"
  /** Its `content-encoding` is unknown, or its compressed data is corrupt. */
  | "WEIR_ERR_BODY_ENCODING"
  /** Decompressed, it would be larger than weir accepts. */
  | "WEIR_ERR_BODY_TOO_LARGE";

/**
 * A body weir cannot decode (invalid JSON, an unknown charset or content-encoding). Such a body
 * never reaches a handler and is never requeued (it would loop): it is dead-lettered with this
 * error's code and message in its headers, or rejected without requeue. Never thrown to you.
 */
export class InvalidBodyError extends WeirError {
  declare readonly code: InvalidBodyCode;

  constructor(code: InvalidBodyCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
