import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Whether the module whose `import.meta.url` is `moduleUrl` is the program's entry point
 * (`node worker.js`, `npx tsx worker.ts`), Node 20's stand-in for Node 24's `import.meta.main`.
 * False when the module was imported: by a test, by another module, or by the `weir` command,
 * whose entry point is the CLI itself. So one file can export its app for `weir run` / `weir
 * routes` / tests and still run on its own:
 *
 * ```ts
 * export const app = new App({ name: "worker" });
 * if (isMainModule(import.meta.url)) await app.run();
 * ```
 *
 * Symlinks are resolved on both sides; an entry point given without its extension (`node worker`)
 * matches too.
 */
export function isMainModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined || !moduleUrl.startsWith("file:")) return false;
  const file = fileURLToPath(moduleUrl);
  const realFile = real(file) ?? file;
  const realEntry = real(entry);
  if (realEntry !== undefined) return realEntry === realFile;
  return realFile.replace(/\.[cm]?[jt]sx?$/, "") === entry;
}
