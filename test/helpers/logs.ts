import { type Logger, pino } from "pino";

/** One JSON log line as pino wrote it (levels: 30 info, 40 warn, 50 error). */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export const INFO = 30;
export const WARN = 40;
export const ERROR = 50;

/** A pino logger writing to a destination stream the test reads: what a log collector would get. */
export function captureLogs(level = "debug"): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level },
    {
      write(chunk: string) {
        for (const line of chunk.split("\n")) if (line) lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines };
}

/** The lines whose message matches `pattern`. */
export function linesMatching(lines: readonly LogLine[], pattern: RegExp): LogLine[] {
  return lines.filter((line) => pattern.test(line.msg));
}

/** True when the line carries a stack trace anywhere in its fields. */
export function hasStack(line: LogLine): boolean {
  return JSON.stringify(line).includes('"stack":');
}
