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
    if (!arg.startsWith("--") || arg === "--") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (spec.switches?.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      switches.add(name);
      continue;
    }
    const takesValue = spec.values?.includes(name) || spec.repeated?.includes(name);
    if (!takesValue) throw new UsageError(`unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
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
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${raw}`);
  return value;
}

export const USAGE = `Usage: weir <command> [options]

Commands:
  run <module> [--workers N]            run the App the module exports; N > 1 starts N worker
                                        processes that share the app's queues (competing consumers)
  routes <module> [--json]              print the app's route table
  publish <queue> <json> [options]      publish one message and wait for the broker's confirm
        --exchange X (then <queue> is the routing key)  --header name=value (repeatable)
        --timeout ms  --url URL  --vhost V
  dlq list <queue> [--limit N] [--json] show the dead letters of <queue>
  dlq replay <queue> [--limit N] [--grep text]
                                        move dead letters back to <queue> (those containing text)
  dlq purge <queue>                     delete the dead letters of <queue>
        dlq options: --module M (to use the app's dead-letter settings)  --url URL  --vhost V
  asyncapi <module> [--out file] [--title T] [--version V]
                                        write an AsyncAPI 3 document of the app's AMQP and SSE routes
  help                                  show this text

A module exports an App (default export, or \`app\`) or a \`createApp()\` factory; routes and asyncapi
never start it. A .ts module is loaded through tsx (npm install -D tsx). The broker URL is --url, else WEIR_AMQP_URL, else amqp://guest:guest@127.0.0.1:5672.
Exit codes: 0 done, 1 failed (connection, publish, a worker that cannot start), 2 bad arguments.
`;
