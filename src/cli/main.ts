#!/usr/bin/env node
/**
 * The `weir` command (package.json `bin`). In the repository, run it through tsx:
 * `node --import tsx src/cli/main.ts <command>` (or `npx tsx src/cli/main.ts <command>`).
 */
import { integerFlag, parseArgs, USAGE } from "./args.js";
import { asyncapiCommand, dlqCommand, publishCommand, routesCommand } from "./commands.js";
import { ModuleError, UsageError } from "./errors.js";
import { describeFailure, isConnectionFailure, print, say } from "./output.js";
import { isRunWorker, runCluster, runSingle, runWorker } from "./run.js";

/** A process that is done must end, even if the loaded module left a timer or socket open. */
const EXIT_GRACE_MS = 3_000;

async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["workers"] });
  if (args.positionals.length !== 1) throw new UsageError("expected run <module> [--workers N]");
  const workers = integerFlag(args, "workers", 1);
  const modulePath = args.positionals[0]!;
  return workers > 1 ? runCluster(modulePath, workers) : runSingle(modulePath);
}

async function main(argv: readonly string[]): Promise<number> {
  if (isRunWorker()) return runWorker();
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return run(rest);
    case "routes":
      return routesCommand(rest);
    case "publish":
      return publishCommand(rest);
    case "dlq":
      return dlqCommand(rest);
    case "asyncapi":
      return asyncapiCommand(rest);
    case "help":
    case "--help":
    case "-h":
      print(USAGE);
      return 0;
    case undefined:
      throw new UsageError("no command given");
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

/** Prints why the command failed and returns its exit code (2: the arguments, 1: anything else). */
function fail(error: unknown): number {
  if (error instanceof UsageError) {
    say(error.message);
    process.stderr.write(`\n${USAGE}`);
    return 2;
  }
  if (error instanceof ModuleError) {
    say(describeFailure(error));
    return 2;
  }
  if (isConnectionFailure(error)) {
    say(describeFailure(error));
    return 1;
  }
  say(describeFailure(error));
  if (!(error instanceof Error) || !("code" in error))
    process.stderr.write(`${String((error as Error)?.stack ?? "")}\n`);
  return 1;
}

main(process.argv.slice(2))
  .catch(fail)
  .then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  });
