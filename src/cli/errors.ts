import { WeirError } from "../core/errors.js";

/** A command-line mistake: the CLI prints it with the usage and exits with code 2. */
export class UsageError extends WeirError {
  constructor(message: string) {
    super("WEIR_ERR_CLI_USAGE", message);
  }
}

/** The module given to `weir run`/`routes`/`asyncapi` cannot be used; exit code 2. */
export class ModuleError extends WeirError {}

/** A failure of the CLI itself (workers that never start, a missing feature); exit code 1. */
export class CLIError extends WeirError {}
