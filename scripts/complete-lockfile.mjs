#!/usr/bin/env node
/**
 * The registry mirror this project is developed against serves only the linux-x64/arm64 (glibc)
 * builds of packages that ship per-platform binaries as optional dependencies (biome, rollup), so
 * npm writes a lockfile without the other platforms' entries, and `npm ci` then refuses it as "out
 * of sync". This adds each missing optional platform package with the version its parent pins and
 * the os/cpu/libc its name encodes: npm skips them on other platforms and fetches them by version
 * where they apply. Run after `npm install` changes the lockfile: node scripts/complete-lockfile.mjs
 */
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;
const OS = ["android", "darwin", "linux", "win32", "freebsd", "openbsd", "openharmony"];
const CPU = ["arm64", "x64", "arm", "ia32", "loong64", "ppc64", "riscv64", "s390x"];

function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  const os = parts.find((part) => OS.includes(part));
  const cpu = parts.find((part) => CPU.includes(part));
  if (!os || !cpu) return undefined;
  const libc = parts.some((part) => part.startsWith("musl"))
    ? ["musl"]
    : parts.some((part) => part.startsWith("gnu"))
      ? ["glibc"]
      : undefined;
  return { os: [os], cpu: [cpu], ...(libc && os === "linux" ? { libc } : {}) };
}

let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${name}`;
    if (packages[target]) continue;
    const platform = platformOf(name);
    if (!platform) continue;
    packages[target] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, ...platform };
    added++;
  }
  void key;
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} optional platform entries`);
