import { execFileSync } from "node:child_process";
import { cpus } from "node:os";

/**
 * CPU pinning for the transport pairs (HTTP, SSE): the measured process on one core, what loads it
 * (the load generator, the SSE server) on the other, so that the two do not take turns on one core
 * and the measured side's CPU per unit is its own work. Needs Linux's `taskset` and 2 cores or more;
 * without them, processes run unpinned (the ratios still hold, the rates mean less).
 */

let usable: boolean | undefined;

/** Whether `taskset` exists and the machine has a second core to pin to. */
export function canPin(): boolean {
  if (usable === undefined) {
    try {
      execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
      usable = cpus().length >= 2;
    } catch {
      usable = false;
    }
  }
  return usable;
}

/** The measured side's core, and the other's. */
export const MEASURED_CORE = 0;
export const LOAD_CORE = 1;

/** `argv` run on `core` (through `taskset`), or as it is when pinning is not possible. */
export function pinned(core: number, argv: readonly string[]): string[] {
  return canPin() ? ["taskset", "-c", String(core), ...argv] : [...argv];
}
