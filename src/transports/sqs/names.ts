import { InvalidOptionError } from "../../core/errors.js";
import { isFifo, isQueueUrl, queueNameOf } from "./port.js";

/**
 * SQS queue names, checked where the user writes them (`app.route`, `app.task`, `app.sqs.publish`):
 * emulators such as fauxqs take any name, so a name AWS refuses would otherwise start locally and
 * fail only on AWS. Queue URLs are taken as they are.
 */

/** The longest queue name SQS takes, `.fifo` included. */
export const SQS_QUEUE_NAME_MAX = 80;

const VALID = /^[A-Za-z0-9_-]+$/;
const FIFO_SUFFIX = ".fifo";

const RULE =
  'SQS queue names have 1 to 80 characters, only letters, digits, "-" and "_", plus the ".fifo" suffix ending a FIFO queue\'s name (which counts in the 80) (AWS SQS CreateQueue, "QueueName")';

/** Why `name` is no SQS queue name (with a fix), or undefined when it is one. */
function nameProblem(name: string): string | undefined {
  const fifo = name.endsWith(FIFO_SUFFIX);
  const base = fifo ? name.slice(0, -FIFO_SUFFIX.length) : name;
  const fixes: string[] = [];
  if (!VALID.test(base)) {
    const replaced = base.replace(/[^A-Za-z0-9_-]/g, "_") + (fifo ? FIFO_SUFFIX : "");
    const refused = [...new Set(base.match(/[^A-Za-z0-9_-]/g))].map((c) => JSON.stringify(c));
    fixes.push(
      base === ""
        ? "give it a name before the suffix"
        : `replace ${refused.join(", ")} with "_" or "-" (such as "${replaced}")`,
    );
  }
  if (name.length > SQS_QUEUE_NAME_MAX) {
    fixes.push(`shorten it to ${SQS_QUEUE_NAME_MAX} characters (it has ${name.length} characters)`);
  }
  if (fixes.length === 0) return undefined;
  return `"${name}" is no SQS queue name: ${RULE}; ${fixes.join(", and ")}`;
}

/**
 * Checks the queue `nameOrUrl` given as `option`: a name must be one SQS takes; a URL is taken as
 * it is. Throws `InvalidOptionError` naming the queue, the rule and a fix.
 */
export function checkQueueName(option: string, nameOrUrl: string): void {
  if (isQueueUrl(nameOrUrl)) return;
  const problem = nameProblem(nameOrUrl);
  if (problem !== undefined) throw new InvalidOptionError(option, problem);
}

/** weir's dead-letter queue of `queue`: `<name>-dlq`, `<name>-dlq.fifo` for a FIFO queue. */
export function defaultDeadLetterQueue(queue: string): string {
  const name = queueNameOf(queue);
  return isFifo(name) ? `${name.slice(0, -FIFO_SUFFIX.length)}-dlq.fifo` : `${name}-dlq`;
}

/**
 * Checks that weir's default dead-letter queue of `queue` (a name or URL) is a name SQS takes: the
 * suffix `-dlq` makes it 4 characters longer, so with it a queue's name may have at most 76.
 */
export function checkDeadLetterRoom(option: string, queue: string): void {
  const dlq = defaultDeadLetterQueue(queue);
  if (dlq.length <= SQS_QUEUE_NAME_MAX) return;
  const name = queueNameOf(queue);
  const room = SQS_QUEUE_NAME_MAX - (dlq.length - name.length);
  throw new InvalidOptionError(
    option,
    `"${name}" leaves no room for its weir dead-letter queue "${dlq}" (${dlq.length} characters; SQS queue names have at most ${SQS_QUEUE_NAME_MAX}, AWS SQS CreateQueue, "QueueName"): shorten the queue's name to ${room} characters, name the dead-letter queue with deadLetter: { queue }, or set deadLetter: false`,
  );
}
