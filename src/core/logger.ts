import { createRequire } from "node:module";
import { type Logger, pino } from "pino";
import { InvalidOptionError } from "./errors.js";

export type { Logger } from "pino";

/** How the default logger writes: pretty lines for a person, or one JSON object per line. */
export type LogFormat = "pretty" | "json";

const LOG_FORMATS: readonly LogFormat[] = ["pretty", "json"];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Where the default logger reads its settings; a parameter so tests need not touch `process`. */
export interface LoggerEnvironment {
  readonly env?: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal. @defaultValue `process.stdout.isTTY` */
  readonly isTTY?: boolean;
}

/**
 * `WEIR_LOG_FORMAT` when set (`pretty` or `json`), else `pretty` at a terminal and `json` otherwise
 * (a log collector wants one JSON object per line). Anything else throws `WEIR_ERR_INVALID_OPTION`:
 * a misspelled format silently falling back would hide the very logs the user asked for.
 */
export function logFormat({
  env = process.env,
  isTTY = process.stdout.isTTY === true,
}: LoggerEnvironment = {}): LogFormat {
  const given = env.WEIR_LOG_FORMAT;
  if (given === undefined || given === "") return isTTY ? "pretty" : "json";
  const format = given.trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new InvalidOptionError(
      "WEIR_LOG_FORMAT",
      `must be "pretty" or "json", got ${JSON.stringify(given)}`,
    );
  }
  return format as LogFormat;
}

function logLevel(env: NodeJS.ProcessEnv): string {
  const level = env.WEIR_LOG_LEVEL?.trim().toLowerCase() || "info";
  if (!LOG_LEVELS.includes(level)) {
    throw new InvalidOptionError(
      "WEIR_LOG_LEVEL",
      `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(env.WEIR_LOG_LEVEL)}`,
    );
  }
  return level;
}

/**
 * The default logger: pino on stdout at `WEIR_LOG_LEVEL` (default `info`), in the format
 * {@link logFormat} picks. Pretty lines go through pino-pretty as a pino transport, so the
 * formatting runs in a worker thread, off the event loop that consumes messages.
 * @throws InvalidOptionError `WEIR_ERR_INVALID_OPTION` for an unknown `WEIR_LOG_FORMAT` or `WEIR_LOG_LEVEL`
 */
export function createDefaultLogger(name?: string, environment: LoggerEnvironment = {}): Logger {
  const env = environment.env ?? process.env;
  const isTTY = environment.isTTY ?? process.stdout.isTTY === true;
  const level = logLevel(env);
  const options = name === undefined ? { level } : { name, level };
  if (logFormat({ env, isTTY }) === "json") return pino(options);
  return pino({
    ...options,
    transport: {
      // Resolved here, from weir's own dependencies: the worker thread would otherwise look for
      // pino-pretty from the user's project, which need not have it.
      target: createRequire(import.meta.url).resolve("pino-pretty"),
      options: {
        destination: 1,
        colorize: isTTY && env.NO_COLOR === undefined,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
        // One line per event, as in JSON; only an error's stack (something broken) spans lines.
        singleLine: true,
      },
    },
  });
}

let sharedLogger: Logger | undefined;

/**
 * The default logger of weir's utilities (Timeit, ActionQueue) when they are given none: one for the
 * process, created at first use, because a queue is often built per message and each pretty logger
 * runs a worker thread.
 */
export function sharedDefaultLogger(): Logger {
  sharedLogger ??= createDefaultLogger();
  return sharedLogger;
}

/**
 * The logger an App logs through: `name` bound on every line. A user's logger is wrapped in a child,
 * so its own bindings and settings stay; if it already binds a `name` of its own, that one is kept
 * and the app's name goes under `app` instead (one JSON line must not carry `name` twice).
 */
export function appLogger(name: string, logger?: Logger): Logger {
  if (logger === undefined) return createDefaultLogger(name);
  const own = logger.bindings().name;
  if (own === undefined) return logger.child({ name });
  return own === name ? logger : logger.child({ app: name });
}

/**
 * An expected failure (a lost connection, a refused stream, a broker that is down) as log fields:
 * its code and message, no stack. A stack says where the code was, which only helps when the code
 * is wrong; for an outage it is noise. Log `{ err }` (with its stack) only where something is broken.
 */
export function failureFields(error: unknown): { code?: string; reason: string } {
  if (!(error instanceof Error)) return { reason: String(error) };
  const code = (error as { code?: unknown }).code;
  const reason = error.message || error.name;
  return typeof code === "string" || typeof code === "number" ? { code: String(code), reason } : { reason };
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
