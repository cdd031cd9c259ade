#!/usr/bin/env node
/**
 * `npm run lint:package` (part of `npm test`): packs weir as `npm publish` would (`prepack` builds
 * dist/ first) and checks the tarball itself, not the work tree:
 * - it holds dist/ (JS, .d.ts, source maps), the bin, README.md, LICENSE and package.json, and
 *   nothing else; the bin keeps its shebang and is executable; every map carries its sources;
 * - publint --strict: package.json's fields against the packed files;
 * - @arethetypeswrong/cli: the types of every entry point resolve under node16 (from ESM and from
 *   CJS) and bundler. Profile node16 leaves out node10, which cannot read `exports` (weir's types
 *   need moduleResolution node16, nodenext or bundler). The rule cjs-resolves-to-esm is ignored on
 *   purpose: weir is ESM only, and `require("weir")` loads it through Node's require(esm), which
 *   every Node version in `engines` has (20.19+, 22.12+); test/package/consumer.test.ts requires
 *   it for real.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^dist\/.+\.(js|d\.ts|js\.map)$/];
const problems = [];

const dir = mkdtempSync(join(tmpdir(), "weir-lint-package-"));
try {
  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", dir], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }),
  );
  const tarball = join(dir, packed.filename);
  const kB = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
  console.log(
    `lint:package: ${packed.filename}: ${packed.entryCount} files, ${kB(packed.size)} packed, ${kB(packed.unpackedSize)} unpacked`,
  );

  execFileSync("tar", ["-xzf", tarball, "-C", dir]);
  const read = (path) => readFileSync(join(dir, "package", path), "utf8");
  const files = new Set(packed.files.map((file) => file.path));
  for (const path of files) {
    if (!ALLOWED.some((pattern) => pattern.test(path)))
      problems.push(`unexpected file in the tarball: ${path}`);
  }
  for (const required of ["package.json", "README.md", "LICENSE", "dist/index.js", "dist/index.d.ts"]) {
    if (!files.has(required)) problems.push(`missing from the tarball: ${required}`);
  }
  for (const [name, bin] of Object.entries(JSON.parse(read("package.json")).bin ?? {})) {
    const path = bin.replace(/^\.\//, "");
    if (!files.has(path)) {
      problems.push(`bin ${name}: ${bin} is not in the tarball`);
      continue;
    }
    if ((statSync(join(dir, "package", path)).mode & 0o111) === 0)
      problems.push(`bin ${name}: ${bin} is not executable`);
    if (!read(path).startsWith("#!/usr/bin/env node\n"))
      problems.push(`bin ${name}: ${bin} has no node shebang`);
  }
  for (const path of [...files].filter((file) => file.endsWith(".map"))) {
    const map = JSON.parse(read(path));
    if (
      map.sources.length !== map.sourcesContent?.length ||
      map.sourcesContent.some((s) => typeof s !== "string")
    )
      problems.push(`${path} points at sources the package does not ship (no sourcesContent)`);
  }

  const run = (command, args) => {
    try {
      execFileSync(command, args, { cwd: root, stdio: "inherit" });
    } catch {
      problems.push(`${command} reported problems (above)`);
    }
  };
  run("publint", ["run", tarball, "--strict"]);
  run("attw", [tarball, "--profile", "node16", "--ignore-rules", "cjs-resolves-to-esm", "--format", "ascii"]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`lint:package: ${problem}`);
  process.exit(1);
}
console.log("lint:package: the tarball is complete, publint and attw found nothing");
