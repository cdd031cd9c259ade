import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("docs/errors.md", () => {
  it("lists every error code the sources can throw", () => {
    const codes = new Set<string>();
    for (const file of sources("src")) {
      for (const match of readFileSync(file, "utf8").matchAll(/"(WEIR_ERR_[A-Z_]+)"/g))
        codes.add(match[1] as string);
    }
    const documented = readFileSync("docs/errors.md", "utf8");
    const missing = [...codes].filter((code) => !documented.includes(`\`${code}\``));
    expect(codes.size).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });
});
