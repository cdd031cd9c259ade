import { InvalidBodyError } from "../codec/errors.js";
import { DeadLetteredError, SchemaValidationError } from "./errors.js";
import { RedeliveryLimitError } from "./redeliveries.js";

/**
 * Why weir dead-lettered a message: the same categories on every transport, so one
 * `replay({ filter: (letter) => letter.reason === "max-attempts" })` means the same on each
 * (docs/retries.md). Each transport writes it as its dead letter's `x-weir-reason`.
 */
export type WeirDeadLetterReason =
  /** It failed `retry.maxAttempts` times. */
  | "max-attempts"
  /** The handler threw an `UnrecoverableError` (or any error, on a route without retries). */
  | "unrecoverable"
  /** The handler called `m.deadLetter(reason)`. */
  | "dead-lettered"
  /** Its body was not valid JSON. */
  | "invalid-json"
  /** Its body could not be decoded: an unknown charset or content-encoding, or corrupt compressed data. */
  | "undecodable"
  /** Its body failed the route's schema. */
  | "schema";

/** The category of the error that sent a message to its dead letters. */
export function deadLetterReasonOf(error: unknown): WeirDeadLetterReason {
  if (error instanceof SchemaValidationError) return "schema";
  if (error instanceof InvalidBodyError) {
    return error.code === "WEIR_ERR_INVALID_JSON" ? "invalid-json" : "undecodable";
  }
  if (error instanceof DeadLetteredError) return "dead-lettered";
  if (error instanceof RedeliveryLimitError) return "max-attempts";
  return "unrecoverable";
}

/** Errors found before the handler ran (body, schema, redelivery limit): not a handler attempt. */
export function failedBeforeHandler(error: unknown): boolean {
  return (
    error instanceof SchemaValidationError ||
    error instanceof InvalidBodyError ||
    error instanceof RedeliveryLimitError
  );
}
