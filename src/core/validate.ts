import { InvalidOptionError } from "./errors.js";

/**
 * Option checks shared by every transport, run once at registration so that misuse fails where the
 * user wrote it, never later at run time.
 */

export function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(option, `must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/**
 * The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days): a longer one fires after
 * 1 ms with a TimeoutOverflowWarning (Node's `setTimeout` docs). Every duration option ends up in a
 * timer, so none may be longer.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration in ms: a finite number from `min` to {@link MAX_TIMER_MS}. */
export function duration(option: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(option, `must be a number of milliseconds >= ${min}, got ${String(value)}`);
  }
  if (value > MAX_TIMER_MS) {
    throw new InvalidOptionError(
      option,
      `must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest delay Node's timers take; a longer one would fire after 1 ms), got ${value}`,
    );
  }
  return value;
}

export function nonEmptyString(option: string, value: unknown, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidOptionError(option, `must be a non-empty string, got ${String(value)}`);
  }
  return value;
}

/**
 * Rejects keys the user probably misspelled: an unknown option silently ignored is a bug to find
 * later (`{ ampq: { url } }` quietly connecting to the default broker). The error names the option
 * as `where.key` (`key` alone when `where` is ""), lists the known keys and suggests the closest.
 * Allocates nothing when every key is known, so it may run per call.
 */
export function knownKeys(where: string, value: object | undefined, allowed: readonly string[]): void {
  if (value === undefined) return;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(where || "options", `must be an object, got ${String(value)}`);
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key) || allowed.includes(key)) continue;
    const guess = closest(key, allowed);
    const hint = guess === undefined ? "" : `; did you mean "${guess}"?`;
    throw new InvalidOptionError(
      where === "" ? key : `${where}.${key}`,
      `unknown option (known: ${allowed.join(", ")})${hint}`,
    );
  }
}

/**
 * The known key `key` most likely misspells: the same but for case, at most 2 edits away, or a
 * shortened or lengthened form of it (`retry` for `retries`, `ceil` for `ceiling`).
 */
function closest(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const known = candidate.toLowerCase();
    const prefix =
      Math.min(known.length, lower.length) >= 3 && (known.startsWith(lower) || lower.startsWith(known));
    const distance = known === lower ? 0 : Math.min(editDistance(lower, known), prefix ? 2 : 3);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]!.push(distance);
    }
  }
  return rows[a.length]![b.length]!;
}
