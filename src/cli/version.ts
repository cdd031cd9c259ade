import { readFileSync } from "node:fs";

/**
 * weir's version, read at run time from the package.json two folders up: dist/cli/ in an installed
 * package, src/cli/ in the repository. Reading the file (rather than a copy made at build time)
 * reports the version that is actually installed, whatever built it.
 */
export function weirVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version?: unknown;
  };
  if (typeof pkg.version !== "string") throw new Error("weir's package.json has no version");
  return pkg.version;
}
