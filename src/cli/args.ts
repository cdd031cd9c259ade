import { UsageError } from "./errors.js";

/** What a command accepts: flags that take a value, boolean switches, and repeatable flags. */
export interface FlagSpec {
  readonly values?: readonly string[];
  readonly switches?: readonly string[];
  readonly repeated?: readonly string[];
}

export interface ParsedArgs {
  readonly positionals: string[];
  readonly values: Map<string, string>;
  readonly switches: Set<string>;
  readonly repeated: Map<string, string[]>;
}

/**
 * A deliberately small parser (`--name value`, `--name=value`, `--switch`, `--` ends the flags):
 * the CLI has five commands, and an unknown or malformed flag must be an error, never ignored.
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const repeated = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // `-x` is an option weir does not have (a short flag), but `-` and `-5` (valid JSON) are values.
    if (/^-[^-\d]/.test(arg)) throw new UsageError("WEIR_ERR_CLI_UNKNOWN_OPTION", `unknown option ${arg}`);
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (spec.switches?.includes(name)) {
      if (inline !== undefined) throw new UsageError("WEIR_ERR_CLI_ARGUMENT", `--${name} takes no value`);
      switches.add(name);
      continue;
    }
    const takesValue = spec.values?.includes(name) || spec.repeated?.includes(name);
    if (!takesValue) throw new UsageError("WEIR_ERR_CLI_UNKNOWN_OPTION", `unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError("WEIR_ERR_CLI_ARGUMENT", `--${name} needs a value`);
    if (spec.repeated?.includes(name)) repeated.set(name, [...(repeated.get(name) ?? []), value]);
    else values.set(name, value);
  }
  return { positionals, values, switches, repeated };
}

/** A positive integer flag value, or a usage error naming the flag. */
export function integerFlag(args: ParsedArgs, name: string, fallback: number, min = 1): number {
  const raw = args.values.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new UsageError("WEIR_ERR_CLI_BAD_VALUE", `--${name} must be an integer >= ${min}, got ${raw}`);
  return value;
}

/** `<json>` of `weir publish`, parsed; `WEIR_ERR_CLI_BAD_JSON` (exit 2) when it is not JSON. */
export function jsonArgument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError("WEIR_ERR_CLI_BAD_JSON", `<json> is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The repeated `--header name=value` flags; `WEIR_ERR_CLI_BAD_VALUE` for one without `=` or a name. */
export function headerFlags(args: ParsedArgs): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const header of args.repeated.get("header") ?? []) {
    const eq = header.indexOf("=");
    if (eq <= 0) throw new UsageError("WEIR_ERR_CLI_BAD_VALUE", `--header must be name=value, got ${header}`);
    headers[header.slice(0, eq)] = header.slice(eq + 1);
  }
  return headers;
}

/** What `weir dlq` does: list, replay or purge the dead letters of a source. */
export type DlqAction = "list" | "replay" | "purge";

/**
 * `dlq <action> <source>` of any transport's `weir dlq`: the action and the source (`noun` names it
 * in the messages: `<queue>`, `<stream>`; `usage` is what comes before the action, e.g.
 * `dlq --transport nats`). A missing action or source is `WEIR_ERR_CLI_ARGUMENT`, an unknown action
 * `WEIR_ERR_CLI_UNKNOWN_COMMAND`.
 */
export function dlqArguments(
  args: ParsedArgs,
  noun: string,
  usage = "dlq",
): { readonly action: DlqAction; readonly source: string } {
  const [action, source, ...rest] = args.positionals;
  if (action === undefined) {
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", `expected ${usage} list|replay|purge <${noun}>`);
  }
  if (action !== "list" && action !== "replay" && action !== "purge") {
    throw new UsageError("WEIR_ERR_CLI_UNKNOWN_COMMAND", `unknown command dlq ${action}`);
  }
  if (source === undefined || rest.length > 0) {
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", `expected ${usage} ${action} <${noun}>`);
  }
  return { action, source };
}

/**
 * The value of `--name`, or of `--alias` (another spelling of the same flag); both given is a usage
 * error (`WEIR_ERR_CLI_ARGUMENT`), since one would be ignored.
 */
export function aliasFlag(args: ParsedArgs, name: string, alias: string): string | undefined {
  const value = args.values.get(name);
  const other = args.values.get(alias);
  if (value !== undefined && other !== undefined) {
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", `--${name} and --${alias} are the same option: give one`);
  }
  return value ?? other;
}
