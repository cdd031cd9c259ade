import { createRequire } from "node:module";

/**
 * weir's version, read at run time from weir's own package.json through the package's
 * self-reference (`weir/package.json`, in `exports`), which holds wherever the bundler put this
 * code (dist/index.js, a chunk) and in the repository. Reading the file (rather than a copy made at
 * build time) reports the version that is actually installed, whatever built it.
 */
export function weirVersion(): string {
  const pkg = createRequire(import.meta.url)("weir/package.json") as { version?: unknown };
  if (typeof pkg.version !== "string") throw new Error("weir's package.json has no version");
  return pkg.version;
}
