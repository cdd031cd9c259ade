import { pino } from "pino";
import { App } from "../../../app.js";
import { dlqArguments, headerFlags, integerFlag, jsonArgument, parseArgs } from "../../../cli/args.js";
import { quietLogs, readApp } from "../../../cli/commands.js";
import { loadEnvFile } from "../../../cli/env-file.js";
import { CLIError, UsageError } from "../../../cli/errors.js";
import { isApp } from "../../../cli/load.js";
import { causes, isConnectionFailure, print, say, scrub } from "../../../cli/output.js";
import { appTransports } from "../../../core/application.js";
import { redactUrl } from "../../../core/logger.js";
import type { DeadLetter } from "../retry/dead-letters.js";
import { type AMQPClient, type AMQPTransport, amqpInternals, DEFAULT_AMQP_URL } from "../transport.js";

/** `weir publish` and `weir dlq`: the AMQP transport's commands (registered in src/transport-commands.ts). */

/** The app's AMQP transport. */
function amqpOf(app: App): AMQPTransport {
  return app[appTransports].get("amqp") as AMQPTransport;
}

/** An App for one broker command: silent, one connection attempt, bounded waits. */
function brokerApp(url: string, timeout: number): App {
  return new App({
    name: "weir-cli",
    logger: pino({ level: process.env.WEIR_LOG_LEVEL ?? "silent" }),
    amqp: { url, reconnect: { maxAttempts: 1 }, publishTimeout: timeout },
    shutdownTimeout: timeout,
  });
}

/** Fails fast, with the redacted URL, when the broker cannot be reached. */
async function reachBroker(app: App, vhost: string | undefined, check?: string): Promise<void> {
  const internals = amqpOf(app)[amqpInternals]();
  try {
    await internals.withChannel(vhost ?? internals.defaultVhost, async (channel) => {
      if (check !== undefined) await channel.checkQueue(check);
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) {
      throw new CLIError(
        "WEIR_ERR_CLI_NO_QUEUE",
        `queue "${check}" does not exist in vhost "${vhost ?? internals.defaultVhost}"; nothing was published`,
      );
    }
    throw new BrokerUnreachable(internals.url, error);
  }
}

/** The broker could not be reached: printed with the URL (password redacted), exit code 1. */
export class BrokerUnreachable extends CLIError {
  constructor(url: string, cause: unknown) {
    const root = causes(cause).at(-1);
    const reason = root instanceof Error ? root.message : String(root);
    super("WEIR_ERR_CLI_CONNECTION", `cannot connect to ${redactUrl(url)}: ${scrub(reason)}`, { cause });
  }
}

function urlOf(args: ReturnType<typeof parseArgs>): string {
  return args.values.get("url") ?? process.env.WEIR_AMQP_URL ?? DEFAULT_AMQP_URL;
}

export async function publishCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["url", "vhost", "exchange", "timeout", "env-file"],
    repeated: ["header"],
  });
  if (args.positionals.length !== 2)
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "expected publish <queue> <json>");
  const [queue, text] = args.positionals as [string, string];
  const body = jsonArgument(text);
  const headers = headerFlags(args);
  const timeout = integerFlag(args, "timeout", 10_000);
  loadEnvFile(args.values.get("env-file"));
  const exchange = args.values.get("exchange");
  const vhost = args.values.get("vhost");
  const app = brokerApp(urlOf(args), timeout);
  try {
    // The default exchange drops a message for a missing queue without a word: check first.
    await reachBroker(app, vhost, exchange === undefined ? queue : undefined);
    await app.amqp.publish(body, { routingKey: queue, exchange, vhost, headers, timeout });
    say(
      `published to ${exchange === undefined ? `queue ${queue}` : `exchange ${exchange} (${queue})`}; confirmed`,
    );
    return 0;
  } finally {
    await app.stop();
  }
}

/**
 * `app.amqp` with its dead-letter API checked at run time: the module's App may come from another
 * (older) copy of weir that has none.
 */
function deadLetterApi(app: App): AMQPClient {
  const api = app.amqp as Partial<AMQPClient>;
  if (
    typeof api.listDeadLetters !== "function" ||
    typeof api.replay !== "function" ||
    typeof api.purgeDeadLetters !== "function"
  ) {
    throw new CLIError(
      "WEIR_ERR_CLI_UNSUPPORTED",
      "this weir has no dead-letter API (app.amqp.listDeadLetters / replay / purgeDeadLetters)",
    );
  }
  return app.amqp;
}

function bodyText(letter: DeadLetter): string {
  if (letter.body !== undefined && !Buffer.isBuffer(letter.body)) return JSON.stringify(letter.body);
  const raw = Buffer.isBuffer(letter.body) ? letter.body : letter.raw;
  return raw === undefined ? "" : raw.toString("utf8");
}

export async function dlqCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["url", "vhost", "module", "limit", "grep", "timeout", "env-file"],
    switches: ["json"],
  });
  const { action, source: queue } = dlqArguments(args, "queue");
  const modulePath = args.values.get("module");
  if (modulePath !== undefined && args.values.has("url")) {
    throw new UsageError(
      "WEIR_ERR_CLI_BAD_VALUE",
      "--module uses the app's own broker URL: give --module or --url, not both",
    );
  }
  const limit = args.values.has("limit") ? integerFlag(args, "limit", 100) : undefined;
  loadEnvFile(args.values.get("env-file"));
  const vhost = args.values.get("vhost");
  const grep = args.values.get("grep");
  let app: App;
  if (modulePath !== undefined) {
    quietLogs();
    // Only the import is inspect-only: the dead-letter API needs the app's connection afterwards.
    app = await readApp(modulePath, false);
  } else {
    app = brokerApp(urlOf(args), integerFlag(args, "timeout", 10_000));
  }
  if (!isApp(app)) throw new CLIError("WEIR_ERR_CLI_UNSUPPORTED", "not a weir App");
  try {
    const api = deadLetterApi(app);
    await reachBroker(app, vhost);
    if (action === "list") {
      const letters = await api.listDeadLetters(queue, { limit: limit ?? 100, vhost });
      if (args.switches.has("json")) {
        print(
          JSON.stringify(
            letters.map((letter) => ({
              ...letter,
              raw: undefined,
              body: Buffer.isBuffer(letter.body) ? letter.body.toString("utf8") : letter.body,
            })),
            // A 64-bit integer header (a bigint: docs/amqp.md) as its digits; JSON has no bigint.
            (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value),
            2,
          ),
        );
      } else {
        for (const [index, letter] of letters.entries()) {
          print(
            `#${index + 1} reason=${letter.reason ?? "-"} attempts=${letter.attempts ?? 0}` +
              `${letter.error ? ` error=${JSON.stringify(letter.error)}` : ""} body=${bodyText(letter)}`,
          );
        }
        say(`${letters.length} dead letter(s) of ${queue}`);
      }
    } else if (action === "replay") {
      const filter = grep === undefined ? undefined : (letter: DeadLetter) => bodyText(letter).includes(grep);
      const result = await api.replay(queue, { limit, vhost, ...(filter && { filter }) });
      say(
        `replayed ${result.replayed} dead letter(s) to ${queue}${result.skipped ? `, skipped ${result.skipped}` : ""}`,
      );
    } else {
      const purged = await api.purgeDeadLetters(queue, { vhost });
      say(`purged ${purged} dead letter(s) of ${queue}`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof BrokerUnreachable) && isConnectionFailure(error)) {
      throw new BrokerUnreachable(amqpOf(app)[amqpInternals]().url, error);
    }
    throw error;
  } finally {
    await app.stop();
  }
}
