import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { App } from "../app.js";
import { beginInspection, endInspection, isInspectRefusal } from "../core/inspect.js";
import { ModuleError } from "./errors.js";

const TYPESCRIPT = /\.(c|m)?tsx?$/;

/** True when this process can already import TypeScript (started as `tsx ...` or `node --import tsx`). */
function canImportTypeScript(): boolean {
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  return /(^|[\s/\\=])tsx([\s/\\]|$)|tsx[/\\]dist/.test(flags);
}

/**
 * Registers tsx's ESM loader so `import()` of a .ts module works. tsx is looked up from the CLI
 * (weir's own dependencies), then from the working directory (the user's project), so the CLI of
 * an installed weir works with the project's own tsx. Without it: a coded error that says what to do.
 */
async function registerTypeScript(): Promise<void> {
  if (canImportTypeScript()) return;
  const candidates: string[] = ["tsx/esm/api"];
  try {
    candidates.push(
      pathToFileURL(createRequire(resolve(process.cwd(), "package.json")).resolve("tsx/esm/api")).href,
    );
  } catch {
    // Not installed in the project either; the first candidate may still resolve from weir.
  }
  for (const specifier of candidates) {
    try {
      const api = (await import(specifier)) as { register?: () => unknown };
      if (typeof api.register === "function") {
        api.register();
        return;
      }
    } catch {
      // Try the next place.
    }
  }
  throw new ModuleError(
    "WEIR_ERR_CLI_TSX",
    "loading a TypeScript module needs tsx: npm install -D tsx (or compile it and pass the .js file)",
  );
}

/** Duck-typed, so an App of another copy of weir (a linked package) still counts. */
export function isApp(value: unknown): value is App {
  if (typeof value !== "object" || value === null) return false;
  const app = value as Record<string, unknown>;
  return (
    typeof app.start === "function" &&
    typeof app.stop === "function" &&
    typeof app.run === "function" &&
    typeof app.health === "function" &&
    Array.isArray(app.routes)
  );
}

/** The name of the factory the CLI calls when a module exports no App itself. */
export const FACTORY = "createApp";

async function importModule(modulePath: string): Promise<Record<string, unknown>> {
  const file = resolve(process.cwd(), modulePath);
  if (!existsSync(file)) throw new ModuleError("WEIR_ERR_CLI_MODULE", `module not found: ${modulePath}`);
  if (TYPESCRIPT.test(file)) await registerTypeScript();
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/**
 * The App a module's exports offer: its default export, else its `app` export, else its only
 * exported App, else what its `createApp()` factory (sync or async, called without arguments)
 * returns. `undefined` when there is none of these.
 */
async function appOf(exported: Record<string, unknown>, modulePath: string): Promise<App | undefined> {
  if (isApp(exported.default)) return exported.default;
  if (isApp(exported.app)) return exported.app;
  const apps = Object.values(exported).filter(isApp);
  if (apps.length === 1) return apps[0]!;
  if (apps.length > 1) {
    throw new ModuleError(
      "WEIR_ERR_CLI_MODULE",
      `${modulePath} exports several Apps: make the one to use the default export or \`app\``,
    );
  }
  const factory = exported[FACTORY];
  if (typeof factory !== "function") return undefined;
  const made: unknown = await (factory as () => unknown)();
  if (!isApp(made)) {
    throw new ModuleError(
      "WEIR_ERR_CLI_MODULE",
      `${modulePath}: ${FACTORY}() returned ${made === null ? "null" : typeof made}, not an App`,
    );
  }
  return made;
}

function noApp(modulePath: string): ModuleError {
  return new ModuleError(
    "WEIR_ERR_CLI_MODULE",
    `${modulePath} exports no App: use \`export const app = new App(...)\`, \`export default app\` ` +
      `or \`export function ${FACTORY}()\``,
  );
}

/**
 * Imports `modulePath` (relative to the working directory) and returns the App it offers (see
 * `appOf`). For `weir run`: the module must not start the app itself (guard that with
 * `isMainModule(import.meta.url)`), the CLI does.
 */
export async function loadApp(modulePath: string): Promise<App> {
  const app = await appOf(await importModule(modulePath), modulePath);
  if (app === undefined) throw noApp(modulePath);
  return app;
}

export interface Inspected {
  readonly app: App;
  /** What the module tried at import and was refused (`app.run()`, an AMQP connection, ...). */
  readonly refused: readonly string[];
}

/**
 * Loads a module only to read its App (`weir routes`, `weir asyncapi`; `dlq --module` for the
 * import only): in inspect-only mode, so a module that starts its app, publishes or listens at
 * import has no effect on the outside world. The App is the one the module exports, else the one
 * it constructed (found even when a top-level `await app.run()` made the import fail). With
 * `keepInspecting: false` the mode ends once the module is loaded.
 */
export async function inspectApp(modulePath: string, keepInspecting = true): Promise<Inspected> {
  const inspection = beginInspection();
  // A top-level `app.run()` or `app.amqp.publish()` that is not awaited rejects with nobody
  // listening; that refusal is expected here and must not end the process.
  const ignoreRefusals = (reason: unknown): void => {
    if (!isInspectRefusal(reason)) throw reason;
  };
  process.on("unhandledRejection", ignoreRefusals);
  try {
    let exported: Record<string, unknown> | undefined;
    try {
      exported = await importModule(modulePath);
    } catch (error) {
      if (!isInspectRefusal(error)) throw error;
    }
    let app = exported === undefined ? undefined : await appOf(exported, modulePath);
    if (app === undefined) {
      const constructed = inspection.apps.filter(isApp);
      if (constructed.length > 1) {
        throw new ModuleError(
          "WEIR_ERR_CLI_MODULE",
          `${modulePath} constructed ${constructed.length} Apps and exports none of them: export the one to use`,
        );
      }
      app = constructed[0];
    }
    if (app === undefined) throw noApp(modulePath);
    return { app, refused: [...inspection.refused] };
  } finally {
    if (!keepInspecting) {
      endInspection();
      process.off("unhandledRejection", ignoreRefusals);
    }
  }
}
