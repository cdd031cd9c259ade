import { WeirError } from "../../core/errors.js";

/** `app.sqs.publish` failed: SQS refused the message or could not be reached (the SDK's error is the `cause`). */
export class SQSPublishError extends WeirError {
  /** The queue, by name or URL as given. */
  readonly queue: string;

  constructor(queue: string, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super("WEIR_ERR_SQS_PUBLISH", `SQS did not take the message for ${queue}: ${reason}`, options);
    this.queue = queue;
  }
}
