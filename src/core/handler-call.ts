import { InvalidOptionError, WeirError } from "./errors.js";
import { duration } from "./validate.js";

/**
 * One handler call, with the route's `timeout`: the one place every transport's handler is called
 * through, so every route type gets the option and the `AbortSignal` the same way.
 */

/** What a handler receives beside its messages or events. */
export interface HandlerContext {
  /**
   * Aborted when the call's `timeout` passes (its `reason` is the `HandlerTimeoutError`): pass it
   * to `fetch`, database drivers and timers so the work stops with the call. Without a `timeout`
   * it never aborts.
   */
  readonly signal: AbortSignal;
}

/** A handler call ran longer than its route's `timeout`; it counts as a failed call. */
export class HandlerTimeoutError extends WeirError {
  /** The route's `timeout` (ms). */
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(
      "WEIR_ERR_HANDLER_TIMEOUT",
      `the handler did not finish within its timeout of ${timeoutMs} ms; its late result is ignored`,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The context of every call of a route without a timeout: one object, no allocation per call. */
const UNBOUNDED: HandlerContext = Object.freeze({ signal: new AbortController().signal });

/** Checks a route's `timeout` option (ms) once, at registration; `undefined` means none. */
export function handlerTimeoutOption(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = duration(option, value, 0);
  // Node's timers take at most 2^31 - 1 ms; a longer delay would fire after 1 ms.
  if (ms > MAX_TIMEOUT_MS)
    throw new InvalidOptionError(option, `must be at most ${MAX_TIMEOUT_MS} ms (24.8 days)`);
  return ms;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Calls `handler(argument, context)`. Without `timeoutMs` it is the call itself, with a shared
 * context (the per-message hot path allocates nothing more). With it, the call is raced against a timer: when the timer wins, the signal is aborted
 * and the returned promise rejects with a `HandlerTimeoutError`, so the caller settles the
 * messages as failed and frees the concurrency slot; whatever the stale call does later is ignored
 * (its rejection is swallowed here, its decisions on settled messages are no-ops).
 */
export function callHandler<A>(
  handler: (argument: A, context: HandlerContext) => unknown,
  argument: A,
  timeoutMs: number | undefined,
): unknown {
  if (timeoutMs === undefined) return handler(argument, UNBOUNDED);
  return withTimeout(handler, argument, timeoutMs);
}

async function withTimeout<A>(
  handler: (argument: A, context: HandlerContext) => unknown,
  argument: A,
  timeoutMs: number,
): Promise<unknown> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new HandlerTimeoutError(timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    const running = Promise.resolve(handler(argument, { signal: controller.signal }));
    // The call may fail after it lost the race: that must not become an unhandled rejection.
    running.catch(() => {});
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}
