import { pino } from "pino";
import { App } from "../../../app.js";
import { dlqArguments, headerFlags, integerFlag, jsonArgument, parseArgs } from "../../../cli/args.js";
import { quietLogs, readApp } from "../../../cli/commands.js";
import { loadEnvFile } from "../../../cli/env-file.js";
import { CLIError, UsageError } from "../../../cli/errors.js";
import { isApp } from "../../../cli/load.js";
import { causes, print, say, scrub } from "../../../cli/output.js";
import { appTransports } from "../../../core/application.js";
import { withTimeout } from "../../../core/deadline.js";
import { redactUrl } from "../../../core/logger.js";
import type { RedisDeadLetter } from "../client.js";
import { DEFAULT_REDIS_URL } from "../options.js";
import type { RedisTransport } from "../transport.js";

/** `weir publish --transport redis` and `weir dlq --transport redis` (src/transport-commands.ts). */

function redisOf(app: App): RedisTransport {
  const transport = app[appTransports].get("redis") as RedisTransport | undefined;
  if (transport === undefined)
    throw new CLIError("WEIR_ERR_CLI_UNSUPPORTED", "this weir has no Redis transport");
  return transport;
}

/** An App for one Redis command: silent, bounded waits. */
function redisApp(url: string, timeout: number): App {
  return new App({
    name: "weir-cli",
    logger: pino({ level: process.env.WEIR_LOG_LEVEL ?? "silent" }),
    redis: { url },
    shutdownTimeout: timeout,
  });
}

/** Redis could not be reached: printed with the URL (password redacted), exit code 1. */
class RedisUnreachable extends CLIError {
  constructor(url: string, cause: unknown) {
    const root = causes(cause).at(-1);
    const reason = root instanceof Error ? root.message : String(root);
    super("WEIR_ERR_CLI_CONNECTION", `cannot connect to ${redactUrl(url)}: ${scrub(reason)}`, { cause });
  }
}

/** Fails fast when Redis cannot be reached (one connect, one PING, within `timeout`). */
async function reach(app: App, timeout: number): Promise<void> {
  const transport = redisOf(app);
  try {
    await withTimeout(
      transport.link.commands().then((client) => client.ping()),
      timeout,
      () => new Error(`no answer within ${timeout} ms`),
    );
  } catch (error) {
    throw new RedisUnreachable(transport.options.url, error);
  }
}

function urlOf(args: ReturnType<typeof parseArgs>): string {
  return args.values.get("url") ?? process.env.WEIR_REDIS_URL ?? DEFAULT_REDIS_URL;
}

export async function publishCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["url", "maxlen", "message-id", "timeout", "env-file"],
    repeated: ["header"],
  });
  if (args.positionals.length !== 2)
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "expected publish --transport redis <stream> <json>");
  const [stream, text] = args.positionals as [string, string];
  const body = jsonArgument(text);
  const headers = headerFlags(args);
  const timeout = integerFlag(args, "timeout", 10_000);
  const maxLen = args.values.has("maxlen") ? integerFlag(args, "maxlen", 1) : undefined;
  loadEnvFile(args.values.get("env-file"));
  const app = redisApp(urlOf(args), timeout);
  try {
    await reach(app, timeout);
    const messageId = args.values.get("message-id");
    const id = await app.redis.publish(body, {
      stream,
      timeout,
      headers,
      ...(maxLen !== undefined && { maxLen }),
      ...(messageId !== undefined && { messageId }),
    });
    print(id);
    say(`published to stream ${stream} as ${id}`);
    return 0;
  } finally {
    await app.stop();
  }
}

function bodyText(letter: RedisDeadLetter): string {
  return typeof letter.body === "string" ? letter.body : JSON.stringify(letter.body);
}

export async function dlqCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["url", "module", "limit", "grep", "timeout", "env-file"],
    switches: ["json"],
  });
  const { action, source: stream } = dlqArguments(args, "stream");
  const modulePath = args.values.get("module");
  if (modulePath !== undefined && args.values.has("url")) {
    throw new UsageError(
      "WEIR_ERR_CLI_BAD_VALUE",
      "--module uses the app's own Redis: give --module or --url, not both",
    );
  }
  const limit = args.values.has("limit") ? integerFlag(args, "limit", 100) : undefined;
  const timeout = integerFlag(args, "timeout", 10_000);
  loadEnvFile(args.values.get("env-file"));
  const grep = args.values.get("grep");
  let app: App;
  if (modulePath !== undefined) {
    quietLogs();
    app = await readApp(modulePath, false);
  } else {
    app = redisApp(urlOf(args), timeout);
  }
  if (!isApp(app)) throw new CLIError("WEIR_ERR_CLI_UNSUPPORTED", "not a weir App");
  try {
    await reach(app, timeout);
    const api = app.redis;
    if (action === "list") {
      const letters = await api.listDeadLetters(stream, { limit: limit ?? 100 });
      if (args.switches.has("json")) {
        print(JSON.stringify(letters, null, 2));
      } else {
        for (const [index, letter] of letters.entries()) {
          print(
            `#${index + 1} id=${letter.id} reason=${letter.reason ?? "-"} attempts=${letter.attempts}` +
              `${letter.error ? ` error=${JSON.stringify(letter.error)}` : ""} body=${bodyText(letter)}`,
          );
        }
        say(`${letters.length} dead letter(s) of ${stream}`);
      }
    } else if (action === "replay") {
      const filter =
        grep === undefined ? undefined : (letter: RedisDeadLetter) => bodyText(letter).includes(grep);
      const result = await api.replay(stream, {
        ...(limit !== undefined && { limit }),
        ...(filter && { filter }),
      });
      say(
        `replayed ${result.replayed} dead letter(s) to ${stream}${result.skipped ? `, skipped ${result.skipped}` : ""}`,
      );
    } else {
      const purged = await api.purgeDeadLetters(stream);
      say(`purged ${purged} dead letter(s) of ${stream}`);
    }
    return 0;
  } finally {
    await app.stop();
  }
}
