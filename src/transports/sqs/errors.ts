import { StartError, WeirError } from "../../core/errors.js";

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

/**
 * `WEIR_ERR_SQS_QUEUE_NOT_FOUND`: at `start()`, a route's queue does not exist and the route has no
 * `declare`. Give the route `declare: true` (weir then creates its missing queues at start), or
 * create the queue first. The AWS SDK's error is the `cause`.
 */
export class SQSQueueNotFoundError extends StartError {
  constructor(
    readonly queue: string,
    options: { cause: unknown },
  ) {
    super(
      "WEIR_ERR_SQS_QUEUE_NOT_FOUND",
      `the SQS queue "${queue}" does not exist: give the route \`declare: true\` to have weir create it at start, or create it first`,
      options,
    );
  }
}
