import { pino } from "pino";
import { App } from "../../../app.js";
import {
  aliasFlag,
  dlqArguments,
  headerFlags,
  integerFlag,
  jsonArgument,
  parseArgs,
} from "../../../cli/args.js";
import { loadEnvFile } from "../../../cli/env-file.js";
import { CLIError, UsageError } from "../../../cli/errors.js";
import { causes, print, say, scrub } from "../../../cli/output.js";
import type { NATSDeadLetter } from "../dead-letters.js";
import { DEFAULT_NATS_SERVER, redactServer } from "../options.js";

/** `weir publish --transport nats` and `weir dlq --transport nats` (registered in src/transport-commands.ts). */

function serverOf(args: ReturnType<typeof parseArgs>): string {
  return aliasFlag(args, "server", "url") ?? process.env.WEIR_NATS_URL ?? DEFAULT_NATS_SERVER;
}

/** An App for one command: silent, bounded waits. */
function natsApp(server: string, timeout: number): App {
  return new App({
    name: "weir-cli",
    logger: pino({ level: process.env.WEIR_LOG_LEVEL ?? "silent" }),
    nats: { servers: server, timeout, connectTimeout: timeout },
    shutdownTimeout: timeout,
  });
}

/** The server could not be reached: printed with the server (credentials removed), exit code 1. */
function unreachable(server: string, error: unknown): CLIError {
  const root = causes(error).at(-1);
  const reason = root instanceof Error ? root.message : String(root);
  return new CLIError(
    "WEIR_ERR_CLI_CONNECTION",
    `cannot connect to NATS at ${redactServer(server)}: ${scrub(reason)}`,
    {
      cause: error,
    },
  );
}

function isConnectFailure(error: unknown): boolean {
  return (error as { code?: unknown }).code === "WEIR_ERR_NATS_CONNECT";
}

export async function publishCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["server", "url", "timeout", "message-id", "msg-id", "env-file"],
    repeated: ["header"],
  });
  if (args.positionals.length !== 2)
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "expected publish --transport nats <subject> <json>");
  const [subject, text] = args.positionals as [string, string];
  const body = jsonArgument(text);
  const headers = headerFlags(args);
  const timeout = integerFlag(args, "timeout", 10_000);
  loadEnvFile(args.values.get("env-file"));
  const server = serverOf(args);
  const app = natsApp(server, timeout);
  const messageId = aliasFlag(args, "message-id", "msg-id");
  try {
    const ack = await app.nats.publish(body, {
      subject,
      timeout,
      ...(Object.keys(headers).length > 0 && { headers }),
      ...(messageId !== undefined && { messageId }),
    });
    say(
      `published to ${subject}; stored in stream ${ack.stream} as #${ack.seq}${ack.duplicate ? " (a duplicate message-id: dropped)" : ""}`,
    );
    return 0;
  } catch (error) {
    if (isConnectFailure(error)) throw unreachable(server, error);
    throw error;
  } finally {
    await app.stop();
  }
}

function bodyText(letter: NATSDeadLetter): string {
  return Buffer.isBuffer(letter.body) ? letter.body.toString("utf8") : (JSON.stringify(letter.body) ?? "");
}

export async function dlqCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["server", "url", "limit", "grep", "timeout", "env-file", "dlq-stream", "dlq-subject"],
    switches: ["json"],
  });
  const { action, source: stream } = dlqArguments(args, "stream", "dlq --transport nats");
  const limit = args.values.has("limit") ? integerFlag(args, "limit", 100) : undefined;
  const timeout = integerFlag(args, "timeout", 10_000);
  loadEnvFile(args.values.get("env-file"));
  const server = serverOf(args);
  const grep = args.values.get("grep");
  const dlqStream = args.values.get("dlq-stream");
  const dlqSubject = args.values.get("dlq-subject");
  const deadLetter = {
    ...(dlqStream !== undefined && { stream: dlqStream }),
    ...(dlqSubject !== undefined && { subject: dlqSubject }),
  };
  const app = natsApp(server, timeout);
  try {
    if (action === "list") {
      const letters = await app.nats.deadLetters(stream, { limit: limit ?? 100, deadLetter });
      if (args.switches.has("json")) {
        print(
          JSON.stringify(
            letters.map((letter) => ({
              ...letter,
              body: Buffer.isBuffer(letter.body) ? letter.body.toString("utf8") : letter.body,
            })),
            null,
            2,
          ),
        );
      } else {
        for (const [index, letter] of letters.entries()) {
          print(
            `#${index + 1} seq=${letter.seq} subject=${letter.subject} attempts=${letter.attempts ?? "-"}` +
              ` reason=${letter.reason ?? "-"} code=${letter.code ?? "-"} error=${JSON.stringify(letter.error ?? "-")}` +
              ` body=${bodyText(letter)}`,
          );
        }
        say(`${letters.length} dead letter(s) of ${stream}`);
      }
    } else if (action === "replay") {
      const filter =
        grep === undefined ? undefined : (letter: NATSDeadLetter) => bodyText(letter).includes(grep);
      const result = await app.nats.replay(stream, {
        ...(limit !== undefined && { limit }),
        deadLetter,
        ...(filter && { filter }),
      });
      say(
        `replayed ${result.replayed} dead letter(s) of ${stream}${result.skipped ? `, skipped ${result.skipped}` : ""}`,
      );
    } else {
      const purged = await app.nats.purgeDeadLetters(stream, { deadLetter });
      say(`purged ${purged} dead letter(s) of ${stream}`);
    }
    return 0;
  } catch (error) {
    if (isConnectFailure(error)) throw unreachable(server, error);
    throw error;
  } finally {
    await app.stop();
  }
}
