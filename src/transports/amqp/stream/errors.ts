import { StartError } from "../../../core/errors.js";
import { brokerReason } from "../consume-errors.js";

/**
 * A stream route could not read or store its consumer's offset (the queue
 * `<stream>.weir-offsets.<consumer>`): at start, the start fails with it (the route would not know
 * where to resume); while running, a failed commit is logged with this code and tried again after
 * the next bulk (until then a restart resumes from the last commit that succeeded).
 */
export class StreamOffsetError extends StartError {
  readonly route: string;
  readonly offsetQueue: string;

  constructor(route: string, offsetQueue: string, doing: "read" | "commit", cause: unknown) {
    super(
      "WEIR_ERR_STREAM_OFFSET",
      `route "${route}": could not ${doing} the stream offset in queue "${offsetQueue}": ${brokerReason(cause)}`,
      { cause },
    );
    this.route = route;
    this.offsetQueue = offsetQueue;
  }
}
