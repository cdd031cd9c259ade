import { StartError, WeirError } from "../../core/errors.js";
import { isQueueMissing } from "./port.js";

/**
 * `app.sqs.publish` failed: SQS refused the message or could not be reached (the SDK's error is the
 * `cause`). Every failure of a publish is this class, with `code` `WEIR_ERR_SQS_PUBLISH`, a queue
 * that does not exist included: then `queueMissing` is true and the message says so (a route's
 * `declare: true` creates its queue only when the app consuming it starts).
 */
export class SQSPublishError extends WeirError {
  /** The queue, by name or URL as given. */
  readonly queue: string;
  /**
   * Whether SQS said the queue does not exist (`QueueDoesNotExist`): publish once the app whose
   * route has `declare: true` has started, or create the queue. False for every other failure.
   */
  readonly queueMissing: boolean;

  constructor(queue: string, options: { cause: unknown }) {
    const queueMissing = isQueueMissing(options.cause);
    const reason = queueMissing
      ? `the SQS queue "${queue}" does not exist. A route's (or SQS task's) \`declare: true\` creates its queue only when the app that consumes it starts: publish after that app's start(), or create the queue first (CreateQueue)`
      : options.cause instanceof Error
        ? options.cause.message
        : String(options.cause);
    super("WEIR_ERR_SQS_PUBLISH", `SQS did not take the message for ${queue}: ${reason}`, options);
    this.queue = queue;
    this.queueMissing = queueMissing;
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
