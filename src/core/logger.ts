import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/** The default logger: pino on stdout at `WEIR_LOG_LEVEL` (default `info`). */
export function createDefaultLogger(): Logger {
  return pino({ name: "weir", level: process.env.WEIR_LOG_LEVEL ?? "info" });
}

/**
 * Removes the password from a URL so it can be logged or put into an error message.
 * Unparseable input is replaced whole: it might still hold a secret.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable url>";
  }
}
