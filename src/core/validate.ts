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

/** A duration in ms: a finite number >= `min`. */
export function duration(option: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(option, `must be a number of milliseconds >= ${min}, got ${String(value)}`);
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

/** Rejects keys the user probably misspelled: an unknown option silently ignored is a bug to find later. */
export function knownKeys(where: string, value: object | undefined, allowed: readonly string[]): void {
  if (value === undefined) return;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(where, `must be an object, got ${String(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidOptionError(`${where}.${key}`, `unknown option (known: ${allowed.join(", ")})`);
    }
  }
}
