/**
 * What `weir --help` and `weir <command> --help` print (stdout, exit 0). A mistake prints one line
 * with its code instead (see `fail` in main.ts); only a missing command prints {@link USAGE}.
 */

const MODULES = `A module exports an App (default export, or \`app\`) or a \`createApp()\` factory; a .ts module is
loaded through tsx (npm install -D tsx).`;

import { TRANSPORT_COMMANDS } from "../transport-commands.js";

/** A command's line in the usage: its synopsis, and what it does aligned after it. */
function usageLine(synopsis: string, summary: string): string {
  const column = 31;
  return synopsis.length + 2 < column
    ? `  ${synopsis.padEnd(column - 2)}${summary}`
    : `  ${synopsis}\n${" ".repeat(column)}${summary}`;
}

const TRANSPORT_LINES = Object.entries(TRANSPORT_COMMANDS)
  .map(([, command]) => usageLine(command.synopsis, command.summary))
  .join("\n");

export const USAGE = `Usage: weir <command> [options]

Commands:
  run <module>                 run the app until SIGINT/SIGTERM (--workers N, --watch, --env-file)
  routes <module>              print the app's route table, without starting it
${TRANSPORT_LINES}
  asyncapi <module>            write an AsyncAPI 3 document of the app's routes
  tasks status|revoke <id>     show or revoke one task run (the task store in Redis)
  help [command]               show this text, or a command's
  --version, -v                print weir's version

\`weir <command> --help\` shows a command's options.
${MODULES}
Exit codes: 0 done, 1 failed (connection, publish, a worker that cannot start), 2 bad arguments.
`;

export const COMMAND_HELP = {
  run: `Usage: weir run <module> [--workers N] [--watch] [--env-file FILE]

Runs the module's app as \`app.run()\` does: SIGINT or SIGTERM drains and stops it; a repeated
signal (a third, or a second one more than 1 s after the first) exits at once (code 130).

Options:
  --workers N        N > 1 starts N worker processes (node:cluster) that share the app's queues as
                     competing consumers; a worker that crashes is restarted with backoff
  --watch            restart when a file under the module's folder changes (node_modules, dist and
                     hidden folders excepted); the running worker drains before the new one starts
  --env-file FILE    load environment variables from FILE first (Node's .env parser); variables
                     already set in the environment win

${MODULES}
`,
  routes: `Usage: weir routes <module> [--json]

Prints the app's route table. The app is never started: a module that calls app.run(),
app.start() or publishes at import is refused that (WEIR_ERR_INSPECT_ONLY), and nothing reaches a
broker.

Options:
  --json             the rows as JSON (type, routes, task, details)
  --env-file FILE    load environment variables from FILE first

${MODULES}
`,
  asyncapi: `Usage: weir asyncapi <module> [--out file] [--title T] [--version V]

Writes an AsyncAPI 3.0 document of the app's routes (JSON) to stdout or --out. The app
is never started (as for weir routes).

Options:
  --out file         write to file instead of stdout
  --title T          info.title (default: the app's name)
  --version V        info.version (default 1.0.0)
  --env-file FILE    load environment variables from FILE first

${MODULES}
`,
  tasks: `Usage: weir tasks status <id> [--json] [--redis-url URL]
       weir tasks revoke <id> [--redis-url URL]

status prints a task run's record: status, attempt, times, result or last failure, and its chain
(exit 1 when there is none: never submitted with results on, or expired). revoke revokes a run that
has not ended: no worker runs it, or the one running it aborts its signal (exit 1 when it had ended
already, or has no record). No module is loaded: the run's id and the task store are all it needs.

Options:
  --json             status: the record as JSON
  --redis-url URL    the task store (default: WEIR_REDIS_URL, else redis://127.0.0.1:6379)
`,
} as const;

/** weir's own commands; the transports' (`publish`, `dlq`) come from src/transport-commands.ts. */
export type CoreCommand = keyof typeof COMMAND_HELP;

export function isCommand(name: string | undefined): name is string {
  return name !== undefined && (Object.hasOwn(COMMAND_HELP, name) || Object.hasOwn(TRANSPORT_COMMANDS, name));
}

/** What `weir <command> --help` prints. */
export function commandHelp(name: string, argv: readonly string[] = []): string {
  if (Object.hasOwn(COMMAND_HELP, name)) return COMMAND_HELP[name as CoreCommand];
  const command = TRANSPORT_COMMANDS[name];
  if (command === undefined) return USAGE;
  return command.helpFor?.(argv) ?? command.help;
}
