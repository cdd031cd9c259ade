import { pino } from "pino";

/** An environment variable a child worker fixture is configured by; `fallback` when unset. */
export function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
}

/** A worker fixture's logger: silent unless WEIR_TEST_LOG names a level, on stderr (stdout is the test's). */
export function workerLogger() {
  return pino({ level: process.env.WEIR_TEST_LOG ?? "silent" }, pino.destination(2));
}
