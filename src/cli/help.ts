/**
 * What `weir --help` and `weir <command> --help` print (stdout, exit 0). A mistake prints one line
 * with its code instead (see `fail` in main.ts); only a missing command prints {@link USAGE}.
 */

const MODULES = `A module exports an App (default export, or \`app\`) or a \`createApp()\` factory; a .ts module is
loaded through tsx (npm install -D tsx).`;

const BROKER = `The broker URL is --url, else WEIR_AMQP_URL, else amqp://guest:guest@127.0.0.1:5672.`;

export const USAGE = `Usage: weir <command> [options]

Commands:
  run <module>                 run the app until SIGINT/SIGTERM (--workers N, --watch, --env-file)
  routes <module>              print the app's route table, without starting it
  publish <queue> <json>       publish one message and wait for the broker's confirm
  dlq list|replay|purge <queue>
                               show, move back or delete the dead letters of <queue>
  asyncapi <module>            write an AsyncAPI 3 document of the app's AMQP and SSE routes
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
  publish: `Usage: weir publish <queue> <json> [options]

Publishes <json> to <queue> through the default exchange (after checking the queue exists) and
exits 0 once the broker has confirmed it.

Options:
  --exchange X           publish to exchange X; <queue> is then the routing key (no queue check)
  --header name=value    a header (repeatable)
  --timeout ms           wait this long for the connection and the confirm (default 10000)
  --url URL              the broker
  --vhost V              the vhost (default: the URL's)
  --env-file FILE        load environment variables (WEIR_AMQP_URL, ...) from FILE first

${BROKER}
`,
  dlq: `Usage: weir dlq list|replay|purge <queue> [options]

  list <queue>       show the dead letters of <queue> (oldest first; nothing is consumed)
  replay <queue>     move them back to <queue>, attempts reset
  purge <queue>      delete them

Options:
  --limit N          list / replay at most N (list: default 100)
  --json             list: as JSON
  --grep text        replay only those whose body contains text
  --module M         use the app of module M (its broker and dead-letter settings); not with --url
  --timeout ms       wait this long for the broker (default 10000)
  --url URL          the broker
  --vhost V          the vhost (default: the URL's)
  --env-file FILE    load environment variables (WEIR_AMQP_URL, ...) from FILE first

${BROKER}
`,
  asyncapi: `Usage: weir asyncapi <module> [--out file] [--title T] [--version V]

Writes an AsyncAPI 3.0 document of the app's AMQP and SSE routes (JSON) to stdout or --out. The app
is never started (as for weir routes).

Options:
  --out file         write to file instead of stdout
  --title T          info.title (default: the app's name)
  --version V        info.version (default 1.0.0)
  --env-file FILE    load environment variables from FILE first

${MODULES}
`,
} as const;

export type Command = keyof typeof COMMAND_HELP;

export function isCommand(name: string | undefined): name is Command {
  return name !== undefined && Object.hasOwn(COMMAND_HELP, name);
}
