/**
 * Work the NATS transport does once per event-loop turn rather than once per message: the
 * acknowledger's backstop (answers held for a route's queued bulks go out at the latest here) and
 * {@link turnNow}'s clock. All of a turn's tasks run in one `setImmediate` callback: one immediate
 * per turn, however many tasks; a task that throws does not keep the others from running (it is
 * reported as an uncaught exception would be, on the next tick).
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

/** Runs `task` at the end of this event-loop turn, with the turn's other tasks. */
export function endOfTurn(task: () => void): void {
  tasks.push(task);
  if (!scheduled) {
    scheduled = true;
    setImmediate(run);
  }
}
