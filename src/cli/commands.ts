import { writeFile } from "node:fs/promises";
import { pino } from "pino";
import { App, appTransports } from "../app.js";
import { toAsyncAPI } from "../asyncapi/index.js";
import { redactUrl } from "../core/logger.js";
import type { RouteRecord } from "../core/transport.js";
import { taskNameOf } from "../tasks.js";
import type { DeadLetter } from "../transports/amqp/retry/dead-letters.js";
import type { AMQPRouteSpec } from "../transports/amqp/route-spec.js";
import { type AMQPClient, amqpInternals, DEFAULT_AMQP_URL } from "../transports/amqp/transport.js";
import type { HTTPRouteSpec } from "../transports/http/route-spec.js";
import type { SSERouteSpec } from "../transports/sse/route-spec.js";
import { integerFlag, parseArgs } from "./args.js";
import { loadEnvFile } from "./env-file.js";
import { CLIError, UsageError } from "./errors.js";
import { type Inspected, inspectApp, isApp } from "./load.js";
import { causes, isConnectionFailure, print, say, scrub } from "./output.js";

/** Modules loaded only to be read (routes, asyncapi) must not write logs into the output. */
function quietLogs(): void {
  process.env.WEIR_LOG_LEVEL ??= "silent";
}

/**
 * Loads a module only to read its App, and says (on stderr, one line) what the module tried at
 * import that inspect-only mode refused, so its author knows to guard it.
 */
async function readApp(modulePath: string, keepInspecting = true): Promise<App> {
  const { app, refused }: Inspected = await inspectApp(modulePath, keepInspecting);
  if (refused.length > 0) {
    say(
      `${modulePath} tried ${[...new Set(refused)].join(", ")} at import: refused, nothing was started, ` +
        "consumed, published or declared (guard it with `if (isMainModule(import.meta.url))`)",
    );
  }
  return app;
}

function one(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      "WEIR_ERR_CLI_ARGUMENT",
      positionals.length === 0 ? `expected ${what}` : `expected ${what}, got ${positionals.join(" ")}`,
    );
  }
  return positionals[0]!;
}

// ---------------------------------------------------------------- routes

interface RouteRow {
  readonly type: string;
  readonly routes: readonly string[];
  readonly task?: string;
  readonly details: Readonly<Record<string, unknown>>;
}

function describeRoute(record: RouteRecord): RouteRow {
  const type = record.spec.type;
  if (type === "amqp") {
    const spec = record.spec as AMQPRouteSpec;
    const options = spec.options ?? {};
    const task = taskNameOf(record.handler);
    return {
      type,
      routes: record.routes,
      ...(task !== undefined && { task }),
      details: {
        vhost: spec.vhost,
        prefetch: spec.prefetch,
        bulkSize: options.bulkSize ?? 1,
        bulkFlushInterval: options.bulkFlushInterval,
        concurrency: options.concurrency,
        declare: spec.declare ? true : undefined,
        retry: spec.retry ? (spec.retry.maxAttempts ?? 5) : undefined,
        deadLetter: spec.deadLetter || spec.retry ? true : undefined,
        once: spec.once ? spec.once.ttl : undefined,
        schema: spec.schema
          ? ((spec.schema as { "~standard": { vendor?: string } })["~standard"].vendor ?? true)
          : undefined,
      },
    };
  }
  if (type === "http") {
    const spec = record.spec as HTTPRouteSpec;
    return {
      type,
      routes: record.routes,
      details: { methods: spec.methods?.join(","), auth: spec.auth ? true : undefined },
    };
  }
  const spec = record.spec as SSERouteSpec;
  return {
    type,
    routes: record.routes,
    details: {
      url: spec.url === undefined ? undefined : redactUrl(spec.url),
      bulkSize: spec.options?.bulkSize ?? 1,
    },
  };
}

function detailText(details: Readonly<Record<string, unknown>>): string {
  return Object.entries(details)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => (value === true ? key : `${key}=${String(value)}`))
    .join(" ");
}

export async function routesCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { switches: ["json"], values: ["env-file"] });
  const modulePath = one(args.positionals, "routes <module>");
  loadEnvFile(args.values.get("env-file"));
  quietLogs();
  const app = await readApp(modulePath);
  const rows = app.routes.map(describeRoute);
  if (args.switches.has("json")) {
    print(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    print("(no routes)");
    return 0;
  }
  const table = [
    ["TYPE", "ROUTES", "DETAILS"],
    ...rows.map((row) => [
      row.task ? `${row.type} task` : row.type,
      row.routes.join(", "),
      detailText(row.details),
    ]),
  ];
  const widths = [0, 1].map((column) => Math.max(...table.map((cells) => cells[column]!.length)));
  print(
    table
      .map((cells) =>
        `${cells[0]!.padEnd(widths[0]!)}  ${cells[1]!.padEnd(widths[1]!)}  ${cells[2]}`.trimEnd(),
      )
      .join("\n"),
  );
  return 0;
}

// ---------------------------------------------------------------- broker commands

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
  const internals = app[appTransports].amqp[amqpInternals]();
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
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new UsageError("WEIR_ERR_CLI_BAD_JSON", `<json> is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const headers: Record<string, string> = {};
  for (const header of args.repeated.get("header") ?? []) {
    const eq = header.indexOf("=");
    if (eq <= 0) throw new UsageError("WEIR_ERR_CLI_BAD_VALUE", `--header must be name=value, got ${header}`);
    headers[header.slice(0, eq)] = header.slice(eq + 1);
  }
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
  const [action, queue, ...rest] = args.positionals;
  if (action === undefined || !["list", "replay", "purge"].includes(action)) {
    throw new UsageError(
      action === undefined ? "WEIR_ERR_CLI_ARGUMENT" : "WEIR_ERR_CLI_UNKNOWN_COMMAND",
      action === undefined ? "expected dlq list|replay|purge <queue>" : `unknown command dlq ${action}`,
    );
  }
  if (queue === undefined || rest.length > 0)
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", `expected dlq ${action} <queue>`);
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
            null,
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
      throw new BrokerUnreachable(app[appTransports].amqp[amqpInternals]().url, error);
    }
    throw error;
  } finally {
    await app.stop();
  }
}

// ---------------------------------------------------------------- asyncapi

export async function asyncapiCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["out", "title", "version", "env-file"] });
  const modulePath = one(args.positionals, "asyncapi <module>");
  loadEnvFile(args.values.get("env-file"));
  quietLogs();
  const app = await readApp(modulePath);
  const document = toAsyncAPI(app, {
    ...(args.values.has("title") && { title: args.values.get("title") }),
    ...(args.values.has("version") && { version: args.values.get("version") }),
  });
  const text = `${JSON.stringify(document, null, 2)}\n`;
  const out = args.values.get("out");
  if (out === undefined) {
    print(text);
  } else {
    await writeFile(out, text);
    say(`wrote ${out} (AsyncAPI ${document.asyncapi}, ${Object.keys(document.channels).length} channels)`);
  }
  return 0;
}
