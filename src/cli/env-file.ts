import { readFileSync } from "node:fs";
import * as util from "node:util";
import { CLIError, UsageError } from "./errors.js";

/** The environment the CLI was started with: its variables win over an env file's. */
const ORIGINAL = new Set(Object.keys(process.env));

/**
 * The variables of `file` (a `.env` file, read with Node's own parser, `util.parseEnv`, the one
 * behind `node --env-file`) that the environment does not set already: as with `node --env-file`,
 * a variable exported in the shell wins over the file. Throws a `UsageError` when the file cannot
 * be read.
 */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new UsageError("WEIR_ERR_CLI_BAD_VALUE", `--env-file ${file}: ${reason}`, { cause: error });
  }
  // Read at run time, not imported by name: Node before 20.12 has no parseEnv, and a missing named
  // export would stop the whole CLI from loading.
  const parseEnv = (util as { parseEnv?: (content: string) => NodeJS.Dict<string> }).parseEnv;
  if (parseEnv === undefined) {
    throw new CLIError(
      "WEIR_ERR_CLI_UNSUPPORTED",
      `--env-file needs Node >= 20.12 (this is ${process.version})`,
    );
  }
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value === undefined) continue;
    if (!ORIGINAL.has(name)) variables[name] = value;
  }
  return variables;
}

/** Loads `file` into `process.env` (see {@link readEnvFile}); nothing when `file` is undefined. */
export function loadEnvFile(file: string | undefined): void {
  if (file !== undefined) Object.assign(process.env, readEnvFile(file));
}
