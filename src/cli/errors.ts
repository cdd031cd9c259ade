import { WeirError } from "../core/errors.js";

/** The kinds of command-line mistake, each with its own code (docs/errors.md, docs/cli.md). */
export type UsageCode =
  | "WEIR_ERR_CLI_USAGE"
  | "WEIR_ERR_CLI_UNKNOWN_COMMAND"
  | "WEIR_ERR_CLI_UNKNOWN_OPTION"
  | "WEIR_ERR_CLI_ARGUMENT"
  | "WEIR_ERR_CLI_BAD_VALUE"
  | "WEIR_ERR_CLI_BAD_JSON";

/**
 * A command-line mistake: the CLI prints it on one line with its code and exits with code 2. Only
 * `WEIR_ERR_CLI_USAGE` (no command at all) prints the whole usage.
 */
export class UsageError extends WeirError {
  declare readonly code: UsageCode;

  constructor(code: UsageCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The module given to `weir run`/`routes`/`asyncapi` cannot be used; exit code 2. */
export class ModuleError extends WeirError {}

/** A failure of the CLI itself (workers that never start, a missing feature); exit code 1. */
export class CLIError extends WeirError {}
