import { UsageError } from "./errors.js";

/**
 * A `weir` command a transport adds (the AMQP transport adds `publish` and `dlq`). Registered in
 * src/transport-commands.ts, the CLI's composition root, so `cli/` names no transport.
 */
export interface TransportCommand {
  /** The command and its arguments, for the usage (`publish <queue> <json>`). */
  readonly synopsis: string;
  /** One line: what it does. */
  readonly summary: string;
  /** What `weir <command> --help` prints. */
  readonly help: string;
  /**
   * What `weir <command> ... --help` prints for these arguments, when it depends on them (the
   * `--transport` they name). Without it, `help`.
   */
  helpFor?(argv: readonly string[]): string;
  /**
   * Runs the command with the arguments after its name; resolves with the exit code. Loads the
   * transport only when called, so `--help` and usage mistakes answer at once.
   */
  run(argv: readonly string[]): Promise<number>;
}

/**
 * The transport `argv` names with `--transport T` (or `--transport=T`), and the arguments without
 * it; `fallback` when it names none. Throws `WEIR_ERR_CLI_ARGUMENT` for a `--transport` without a
 * value.
 */
export function transportFlag(
  argv: readonly string[],
  fallback: string,
): { readonly transport: string; readonly rest: readonly string[] } {
  const rest: string[] = [];
  let transport: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === "--transport") {
      transport = argv[++i];
      if (transport === undefined || transport.startsWith("--")) {
        throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "--transport needs a value");
      }
      continue;
    }
    if (arg.startsWith("--transport=")) {
      transport = arg.slice("--transport=".length);
      continue;
    }
    rest.push(arg);
  }
  return { transport: transport ?? fallback, rest };
}

/**
 * One command offered by several transports (`weir publish`, `weir dlq`): `--transport T` picks
 * T's variant (default: `fallback`'s), which receives the arguments without `--transport`. An
 * unknown T fails with `WEIR_ERR_CLI_ARGUMENT`, naming the transports that have the command.
 */
export function perTransport(
  name: string,
  variants: Readonly<Record<string, TransportCommand>>,
  fallback: string,
): TransportCommand {
  const base = variants[fallback];
  if (base === undefined) throw new Error(`weir ${name}: no ${fallback} variant`);
  const names = Object.keys(variants);
  const choose = (argv: readonly string[]) => {
    const { transport, rest } = transportFlag(argv, fallback);
    const variant = Object.hasOwn(variants, transport) ? variants[transport] : undefined;
    if (variant === undefined) {
      throw new UsageError(
        "WEIR_ERR_CLI_ARGUMENT",
        `--transport ${transport}: weir ${name} knows ${names.join(", ")}`,
      );
    }
    return { variant, rest };
  };
  const others = names.filter((n) => n !== fallback);
  const note =
    others.length === 0
      ? ""
      : `\n--transport T picks the broker: ${fallback} (the default), ${others.join(", ")}; ` +
        `\`weir ${name} --transport T --help\` shows T's arguments and options.\n`;
  return {
    synopsis: base.synopsis,
    summary: base.summary,
    help: base.help + note,
    helpFor: (argv) => {
      const { variant } = choose(argv);
      return variant === base ? base.help + note : variant.help;
    },
    run: async (argv) => {
      const { variant, rest } = choose(argv);
      return variant.run(rest);
    },
  };
}
