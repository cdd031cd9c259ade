#!/usr/bin/env node
/**
 * `npm run build`, and `prepack`, so `npm pack` and `npm publish` never ship a missing or stale
 * dist/. dist/ is emptied first (a module deleted from src/ must not linger in the package), tsc
 * compiles src/ (JS, .d.ts, source maps carrying their sources, as the package ships no src/), and
 * the bin is made executable: tsc writes 0644, and the tarball keeps the mode it finds.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
for (const bin of Object.values(pkg.bin)) chmodSync(new URL(`../${bin}`, import.meta.url), 0o755);
