import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { App } from "../app.js";
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

/**
 * Imports `modulePath` (relative to the working directory) and returns the App it exports: its
 * default export, else its `app` export, else its only exported App. The module must not start the
 * app itself (no top-level `app.run()`): the CLI does, and `routes`/`asyncapi` never do.
 */
export async function loadApp(modulePath: string): Promise<App> {
  const file = resolve(process.cwd(), modulePath);
  if (!existsSync(file)) throw new ModuleError("WEIR_ERR_CLI_MODULE", `module not found: ${modulePath}`);
  if (TYPESCRIPT.test(file)) await registerTypeScript();
  const exported = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  if (isApp(exported.default)) return exported.default;
  if (isApp(exported.app)) return exported.app;
  const apps = Object.values(exported).filter(isApp);
  if (apps.length === 1) return apps[0]!;
  throw new ModuleError(
    "WEIR_ERR_CLI_MODULE",
    apps.length === 0
      ? `${modulePath} exports no App: use \`export default app\` or \`export const app = new App(...)\``
      : `${modulePath} exports several Apps: make the one to use the default export or \`app\``,
  );
}
