#!/usr/bin/env node
/**
 * `npm run build`, and `prepack`, so `npm pack` and `npm publish` never ship a missing or stale
 * dist/. dist/ is emptied first (a module deleted from src/ must not linger in the package), tsc
 * checks src/ and writes the declarations (.d.ts and their maps), and esbuild bundles the JavaScript:
 * one file per entry point of package.json `exports` (and the bin), with the modules they share in
 * chunks, so `import "weir"` reads a handful of files instead of ~130 (a worker reaches its first
 * delivery sooner: docs/performance.md, "Cold start"). Every entry other than the root also imports
 * the root: esbuild makes one chunk per set of entries that reach a module, so with each subpath
 * reaching its own part of the root, the root's modules were cut into ~35 chunks (each one more file
 * to resolve, read, compile and link at start); reaching all of it, they share one. A subpath
 * (`weir/amqp`, `weir/testing`) then loads the root's code too, which its users load anyway; a
 * subpath's exports stay its own. Dynamic imports stay dynamic: a transport's
 * client library, and weir's code that only a started transport needs, still load on use. npm
 * packages stay external. The bin is made executable: the tarball keeps the mode it finds.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const tsc = require.resolve("typescript/bin/tsc");

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--emitDeclarationOnly"], {
  cwd: root,
  stdio: "inherit",
});

/** `./dist/transports/amqp/index.js` → `src/transports/amqp/index.ts`. */
const sourceOf = (target) => target.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts");
const targets = [
  ...Object.values(pkg.exports).map((entry) => (typeof entry === "string" ? entry : entry.default)),
  ...Object.values(pkg.bin),
].filter((target) => target.endsWith(".js"));

/**
 * Each entry but the root is a virtual module: the root imported for its chunk (above), then the
 * entry's own source re-exported, under the entry's own output path.
 */
const ROOT_SOURCE = "src/index.ts";
const entryPoints = targets.map((target) => {
  const out = target.replace(/^\.\/dist\//, "").replace(/\.js$/, "");
  const source = sourceOf(target);
  return source === ROOT_SOURCE ? { in: source, out } : { in: `weir-entry:${source}`, out };
});
/** @type {import("esbuild").Plugin} */
const withRoot = {
  name: "weir-entry-with-root",
  setup(build) {
    build.onResolve({ filter: /^weir-entry:/ }, (args) => ({
      path: args.path.slice("weir-entry:".length),
      namespace: "weir-entry",
    }));
    build.onLoad({ filter: /.*/, namespace: "weir-entry" }, (args) => {
      // esbuild keeps an entry's own `#!` line only: the bin's is carried over by hand.
      const hashbang =
        /^#!.*\n/.exec(readFileSync(new URL(`../${args.path}`, import.meta.url), "utf8"))?.[0] ?? "";
      return {
        contents: `${hashbang}import "./${ROOT_SOURCE}";\nexport * from "./${args.path}";\n`,
        resolveDir: root,
        loader: "ts",
      };
    });
  },
};

const esbuild = require("esbuild");
await esbuild.build({
  absWorkingDir: root,
  entryPoints,
  plugins: [withRoot],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  sourcemap: true,
  sourcesContent: true,
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
});
for (const bin of Object.values(pkg.bin)) chmodSync(new URL(`../${bin}`, import.meta.url), 0o755);
