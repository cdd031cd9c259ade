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
   * Runs the command with the arguments after its name; resolves with the exit code. Loads the
   * transport only when called, so `--help` and usage mistakes answer at once.
   */
  run(argv: readonly string[]): Promise<number>;
}
