/**
 * What the NATS transport hands the client at the end of the event-loop turn: the answers (acks,
 * naks, terms) of the handlers that finished in the turn and the pull requests the client's pull
 * loops issued while reading the turn's deliveries, together, in one `setImmediate` callback.
 *
 * The client writes everything it is given within one microtask queue in one socket write (it
 * queues its flush on the first publish into an empty buffer). A raw loop that acks synchronously
 * inside its message callback gets its acks and the client's pull requests into one write per socket
 * read. weir answers when a handler's promise settles, microtasks after the read, by which time the
 * client has written the pull requests of the read: one write for the pulls, one for the acks
 * (docs/performance.md, NATS JetStream). Given here and sent in one callback, they share it.
 *
 * Node runs the microtask queue between two `setImmediate` callbacks, so the tasks of a turn must
 * run in one callback (not one immediate each) to share the write. One immediate per turn, however
 * many tasks; a task that throws does not keep the others from running (it is reported as an
 * uncaught exception would be, on the next tick).
 */
let tasks: (() => void)[] = [];
let scheduled = false;
let running = false;
/** `Date.now()` as {@link turnNow} read it first in this turn; `stamped` until the turn's end. */
let stamp = 0;
let stamped = false;

function run(): void {
  scheduled = false;
  running = true;
  const now = tasks;
  tasks = [];
  for (const task of now) {
    try {
      task();
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }
  running = false;
  stamped = false;
}

/**
 * `Date.now()` as it was when first asked in this event-loop turn: for figures that need the
 * millisecond of a delivery, not its microsecond (a route's `lastDelivery`), without a clock read
 * per message on the hot path.
 */
export function turnNow(): number {
  if (!stamped) {
    stamped = true;
    stamp = Date.now();
    if (!scheduled && !running) {
      scheduled = true;
      setImmediate(run);
    }
  }
  return stamp;
}

/** Runs `task` at the end of this event-loop turn, with the other NATS sends of the turn. */
export function endOfTurn(task: () => void): void {
  tasks.push(task);
  if (!scheduled) {
    scheduled = true;
    setImmediate(run);
  }
}
