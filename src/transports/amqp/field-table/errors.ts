import { PublishError } from "../../../core/errors.js";

/**
 * A header value that cannot travel in an AMQP field table without changing (a function, a class
 * instance, `NaN`, a `Date` before 1970, a `BigInt` beyond 64 bits...), or headers too large to
 * send. Thrown (as a rejection) by the publish, before anything is sent.
 */
export class HeaderValueError extends PublishError {
  /** Where the value sits, e.g. `headers.meta["x-ids"][2]`. */
  readonly path: string;
  /** Refused before anything was sent. */
  override readonly sent = false;

  constructor(path: string, reason: string) {
    super("WEIR_ERR_PUBLISH_HEADER", `cannot send header ${path}: ${reason}`);
    this.path = path;
  }
}
