import { writeFile } from "node:fs/promises";
import type { App } from "../app.js";
import { toAsyncAPI } from "../asyncapi/index.js";
import { appTransports } from "../core/application.js";
import type { PublicationDescription, RouteDescription } from "../core/transport.js";
import { appTaskLayer, type TaskLayer } from "../tasks/layer.js";
import { parseArgs } from "./args.js";
import { loadEnvFile } from "./env-file.js";
import { CLIError, UsageError } from "./errors.js";
import { type Inspected, inspectApp } from "./load.js";
import { print, say } from "./output.js";

/** Modules loaded only to be read (routes, asyncapi) must not write logs into the output. */
export function quietLogs(): void {
  process.env.WEIR_LOG_LEVEL ??= "silent";
}

/**
 * Loads a module only to read its App, and says (on stderr, one line) what the module tried at
 * import that inspect-only mode refused, so its author knows to guard it.
 */
export async function readApp(modulePath: string, keepInspecting = true): Promise<App> {
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

/** A publication (typed publisher) as `weir routes --json` prints it, after the routes. */
interface PublicationRow {
  readonly type: string;
  readonly publisher: string;
  readonly destination: string;
  readonly details: PublicationDescription["details"];
}

/** Each route as its transport describes it, in registration order. */
function describeRoutes(app: App): RouteDescription[] {
  const transports = app[appTransports];
  return app.routes.map((record) => {
    const transport = transports.get(record.spec.type);
    if (transport === undefined)
      throw new CLIError("WEIR_ERR_CLI_UNSUPPORTED", `no transport for ${record.spec.type}`);
    return transport.describe(record);
  });
}

/** A task schedule as `weir routes --json` prints it, after the publications. */
interface ScheduleRow {
  readonly type: "schedule";
  readonly schedule: string;
  readonly cron: string;
  readonly timezone: string | undefined;
  /** The next tick (ISO 8601), or null when the expression fires no more. */
  readonly next: string | null;
}

/** The app's task schedules (`task.schedule`), with their next tick. */
function describeSchedules(app: App): ScheduleRow[] {
  const layer = (app as { [appTaskLayer]?: TaskLayer })[appTaskLayer];
  return (layer?.scheduleEntries() ?? []).map((entry) => ({
    type: "schedule",
    schedule: entry.name,
    cron: entry.cron,
    timezone: entry.timezone,
    next: entry.nextRun()?.toISOString() ?? null,
  }));
}

/** Each transport's publications (typed publishers), transport by transport, in creation order. */
function describePublications(app: App): PublicationRow[] {
  const rows: PublicationRow[] = [];
  for (const transport of app[appTransports].values()) {
    for (const publication of transport.publications?.() ?? []) {
      rows.push({
        type: publication.type,
        publisher: publication.name,
        destination: publication.destination,
        details: publication.details,
      });
    }
  }
  return rows;
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
  const rows = describeRoutes(app);
  const publications = describePublications(app);
  const schedules = describeSchedules(app);
  if (args.switches.has("json")) {
    print(JSON.stringify([...rows, ...publications, ...schedules], null, 2));
    return 0;
  }
  if (rows.length === 0 && publications.length === 0 && schedules.length === 0) {
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
    ...publications.map((row) => [
      `${row.type} publisher`,
      row.destination,
      detailText({ name: row.publisher, ...row.details }),
    ]),
    ...schedules.map((row) => [
      "schedule",
      row.schedule,
      detailText({ cron: row.cron, timezone: row.timezone, next: row.next ?? "never" }),
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
