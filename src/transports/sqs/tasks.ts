import { InvalidOptionError } from "../../core/errors.js";
import { commonTaskRouteFields, taskRouteHandler } from "../../core/task-route.js";
import type {
  TaskCarrier,
  TaskDelivery,
  TaskRun,
  TaskSender,
  TaskSendOptions,
} from "../../core/transport.js";
import type { SQSAppClient } from "./client.js";
import type { SQSMessage } from "./message.js";
import { checkDeadLetterRoom, checkQueueName } from "./names.js";
import { isFifo } from "./port.js";
import type { SQSRouteSpec } from "./route-spec.js";

/**
 * Tasks on Amazon SQS (alfred's `SQSTask`): the queue named like the task (it must exist, as for
 * any SQS route, unless `declare` has the worker create it), received one message at a time;
 * delayed runs use `DelaySeconds`. The task's name must be an SQS queue name (1 to 80 letters,
 * digits, `-`, `_`, `.fifo` ending a FIFO one; 76 at most with weir's `<name>-dlq`): `app.task`
 * throws `WEIR_ERR_INVALID_OPTION` (option "task name") otherwise.
 */

/** The options of `app.task(name, handler, { transport: "sqs", ... })`. */
export interface SQSTaskOptions<T = unknown> {
  /**
   * Messages the worker holds unsettled.
   * @defaultValue the app's `sqs.prefetch`, else 10
   */
  prefetch?: number;
  /**
   * How many runs this worker runs at once.
   * @defaultValue 1
   */
  concurrency?: number;
  /**
   * The longest one run may take (ms): then its signal aborts and the run counts as failed.
   * @defaultValue none
   */
  timeout?: number;
  /** The route's `visibilityTimeout` (ms, whole seconds). @defaultValue the queue's */
  visibilityTimeout?: number;
  /** The route's long-poll `waitTime` (ms, at most 20 000). @defaultValue 20 000 */
  waitTime?: number;
  /**
   * The route's `declare`: a worker that starts creates the task's queue when it is missing (FIFO
   * for a `.fifo` name). An app that only sends runs creates nothing: its `delay` fails with
   * `WEIR_ERR_SQS_PUBLISH` (`error.queueMissing` true) until the queue exists.
   * @defaultValue false: the queue must exist
   */
  declare?: SQSRouteSpec<T>["declare"];
  /**
   * FIFO task queues (`.fifo`): the message group of every run (SQS keeps order within a group).
   * @defaultValue the task's name
   */
  messageGroupId?: string;
  /**
   * Retries by visibility timeout, then the dead-letter queue (the route's `retry`).
   * @defaultValue none: a failed run is `failed` at once (its message deleted, or dead-lettered with `deadLetter`)
   */
  retry?: SQSRouteSpec<T>["retry"];
  /** The route's `deadLetter`. @defaultValue on when `retry` is set, else off */
  deadLetter?: SQSRouteSpec<T>["deadLetter"];
  /** Once-only processing (the route's `once`). @defaultValue off */
  once?: SQSRouteSpec<T>["once"];
}

type RouteHandler = (messages: SQSMessage[], context: Parameters<TaskRun>[1]) => Promise<void>;

/** The SQS transport's `TaskCarrier`. */
export class SQSTaskCarrier implements TaskCarrier {
  readonly optionKeys = ["visibilityTimeout", "waitTime", "messageGroupId", "declare"];

  constructor(
    private readonly client: SQSAppClient,
    private readonly route: (routes: readonly string[], spec: SQSRouteSpec, handler: RouteHandler) => void,
  ) {}

  define(name: string, options: Readonly<Record<string, unknown>>, run: TaskRun): TaskSender {
    const given = options as SQSTaskOptions;
    const handler: RouteHandler = taskRouteHandler(run, taskDelivery);
    // The task's queue is named like the task: checked here so the error names the task.
    checkQueueName("task name", name);
    const deadLetter = given.deadLetter ?? given.retry !== undefined;
    const weirDeadLetter =
      deadLetter === true ||
      (typeof deadLetter === "object" && deadLetter !== null && deadLetter.queue === undefined);
    if (weirDeadLetter) checkDeadLetterRoom("task name", name);
    if (!isFifo(name) && given.messageGroupId !== undefined) {
      throw new InvalidOptionError("messageGroupId", `is for FIFO queues (.fifo), and ${name} is not one`);
    }
    const spec = {
      ...commonTaskRouteFields(options),
      type: "sqs",
      ...(given.visibilityTimeout !== undefined && { visibilityTimeout: given.visibilityTimeout }),
      ...(given.waitTime !== undefined && { waitTime: given.waitTime }),
      ...(given.declare !== undefined && { declare: given.declare }),
    } as SQSRouteSpec;
    this.route([name], spec, handler);
    const groupId = isFifo(name) ? (given.messageGroupId ?? name) : undefined;
    const maxAttempts = given.retry === undefined ? 1 : (given.retry.maxAttempts ?? 5);
    return {
      maxPriority: undefined,
      maxAttempts,
      send: (payload: unknown, send: TaskSendOptions) =>
        this.client
          .publish(payload, {
            queue: name,
            messageId: send.id,
            headers: stringHeaders(send.headers),
            ...(send.delay > 0 && { delay: send.delay }),
            ...(groupId !== undefined && { messageGroupId: groupId, deduplicationId: send.id }),
          })
          .then(() => {}),
    };
  }
}

function taskDelivery(message: SQSMessage): TaskDelivery {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.headers))
    if (typeof value === "string") headers[key] = value;
  return { message, id: message.messageId, headers };
}

/** SQS message attributes are strings here: anything else is refused rather than mangled. */
function stringHeaders(headers: Readonly<Record<string, unknown>>): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value !== "string") {
      throw new InvalidOptionError(`headers.${key}`, `must be a string on SQS, got ${typeof value}`);
    }
    strings[key] = value;
  }
  return strings;
}
