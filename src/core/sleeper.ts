/**
 * Sleeps that a stop can cut short. Reconnect and retry loops sleep through one of these, so that
 * `stop()` never waits out a 30 s backoff.
 */
export class Sleeper {
  private readonly pending = new Map<NodeJS.Timeout, (completed: boolean) => void>();
  private cancelled = false;

  /** Resolves `true` after `ms`, or `false` at once if the sleeper is (or gets) cancelled. */
  sleep(ms: number): Promise<boolean> {
    if (this.cancelled) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve(true);
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  /** Wakes every sleep with `false`, and makes later sleeps return at once. */
  cancel(): void {
    this.cancelled = true;
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve(false);
    }
    this.pending.clear();
  }
}

/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
 * uniform in [floor, min(ceiling, floor * 2^(attempt-1))]. Full jitter spreads a fleet of workers
 * that lost the same broker, so they do not all reconnect in the same instant.
 */
export function fullJitterDelay(attempt: number, floor: number, ceiling: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const cap = Math.min(ceiling, floor * 2 ** exponent);
  return floor + Math.random() * (cap - floor);
}
