#!/usr/bin/env node
/**
 * The `weir` command (package.json `bin`). In the repository, run it through tsx:
 * `node --import tsx src/cli/main.ts <command>` (or `npx tsx src/cli/main.ts <command>`).
 */
import cluster from "node:cluster";
import { TRANSPORT_COMMANDS } from "../transport-commands.js";
import { integerFlag, parseArgs } from "./args.js";
import { ModuleError, UsageError } from "./errors.js";
import { type CoreCommand, commandHelp, isCommand, USAGE } from "./help.js";
import { describeFailure, isConnectionFailure, print, say } from "./output.js";
import { transportFlag } from "./transport-command.js";
import { weirVersion } from "./version.js";

/** A process that is done must end, even if the loaded module left a timer or socket open. */
const EXIT_GRACE_MS = 3_000;

async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["workers", "env-file"], switches: ["watch"] });
  if (args.positionals.length !== 1) {
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "expected run <module>");
  }
  const workers = integerFlag(args, "workers", 1);
  const modulePath = args.positionals[0]!;
  const envFile = args.values.get("env-file");
  const { loadEnvFile, readEnvFile } = await import("./env-file.js");
  if (args.switches.has("watch")) {
    if (envFile !== undefined) readEnvFile(envFile); // a bad file is a usage error now, not a worker's
    const { runWatched } = await import("./run-watched.js");
    return runWatched(modulePath, workers, envFile);
  }
  loadEnvFile(envFile);
  const { runCluster, runSingle } = await import("./run.js");
  return workers > 1 ? runCluster(modulePath, workers) : runSingle(modulePath);
}

// Loaded on use: help and usage mistakes answer without loading weir and its transports.
const COMMANDS: Record<CoreCommand, (argv: readonly string[]) => Promise<number>> = {
  run,
  routes: async (argv) => (await import("./commands.js")).routesCommand(argv),
  asyncapi: async (argv) => (await import("./commands.js")).asyncapiCommand(argv),
  tasks: async (argv) => (await import("./tasks-command.js")).tasksCommand(argv),
};

function commandOf(name: string): (argv: readonly string[]) => Promise<number> {
  const core = Object.hasOwn(COMMANDS, name) ? COMMANDS[name as CoreCommand] : undefined;
  return core ?? ((argv) => TRANSPORT_COMMANDS[name]!.run(argv));
}

/** `--help` or `-h` among a command's flags (not after `--`, where it would be a value). */
function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === "--help" || arg === "-h");
}

async function main(command: string | undefined, rest: readonly string[]): Promise<number> {
  if (cluster.isWorker) {
    const { isRunWorker, runWorker } = await import("./run.js");
    if (isRunWorker()) return runWorker();
  }
  if (command === undefined) throw new UsageError("WEIR_ERR_CLI_USAGE", "no command given");
  if (command === "--version" || command === "-v") {
    print(weirVersion());
    return 0;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    const topic = rest[0];
    if (topic !== undefined && !isCommand(topic)) {
      throw new UsageError("WEIR_ERR_CLI_UNKNOWN_COMMAND", `unknown command ${topic}`);
    }
    print(topic === undefined ? USAGE : commandHelp(topic));
    return 0;
  }
  if (!isCommand(command)) {
    throw new UsageError("WEIR_ERR_CLI_UNKNOWN_COMMAND", `unknown command ${command}`);
  }
  if (asksForHelp(rest)) {
    print(commandHelp(command, rest));
    return 0;
  }
  return commandOf(command)(rest);
}

/**
 * Prints why the command failed and returns its exit code (2: the arguments or the module, 1:
 * anything else). A usage mistake is one line with its code and where to find the usage; the
 * whole usage only when no command was given.
 */
function fail(error: unknown, command: string | undefined): number {
  if (error instanceof UsageError) {
    if (error.code === "WEIR_ERR_CLI_USAGE") {
      say(`${error.message} (${error.code})`);
      process.stderr.write(`\n${USAGE}`);
      return 2;
    }
    const help = isCommand(command) ? `weir ${command}${transportOf(command)} --help` : "weir --help";
    say(`${error.message.replace(/\s*\n\s*/g, " ")} (${error.code}); see ${help}`);
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

/**
 * ` --transport T` when the arguments pick a known transport's variant of `command`: its help is
 * the one that names the options it takes (`weir dlq --help` is RabbitMQ's).
 */
function transportOf(command: string): string {
  try {
    const { transport } = transportFlag(rest, "");
    if (transport === "") return "";
    commandHelp(command, rest); // throws for a transport that does not offer the command
    return ` --transport ${transport}`;
  } catch {
    return "";
  }
}

const [command, ...rest] = process.argv.slice(2);
main(command, rest)
  .catch((error: unknown) => fail(error, command))
  .then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  });
