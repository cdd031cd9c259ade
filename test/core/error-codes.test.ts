import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, WeirError } from "../../src/index.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

const CODE = /WEIR_ERR_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])/g; // not a prefix such as `WEIR_ERR_PUBLISH_` in a pattern

/** Every code written in the sources, outside the list itself. */
function codesInSources(): Set<string> {
  const codes = new Set<string>();
  for (const file of sources("src")) {
    if (file.endsWith(join("core", "error-codes.ts"))) continue;
    for (const [code] of readFileSync(file, "utf8").matchAll(CODE)) codes.add(code);
  }
  return codes;
}

/** Every code docs/errors.md documents (a table row's first cell). */
function codesInDocs(): Set<string> {
  const codes = new Set<string>();
  for (const [, code] of readFileSync("docs/errors.md", "utf8").matchAll(
    /^\| `(WEIR_ERR_[A-Z0-9_]+)` \|/gm,
  )) {
    codes.add(code as string);
  }
  return codes;
}

// As fastify's errors test does: the list, the sources and the docs agree in both directions, and
// the count is pinned, so adding or removing a code is a deliberate act in all three places.
describe("error codes (src/core/error-codes.ts, docs/errors.md)", () => {
  const list = new Set<string>(ERROR_CODES);

  it("are 122, each listed once", () => {
    expect(ERROR_CODES).toHaveLength(124);
    expect(list.size).toBe(ERROR_CODES.length);
  });

  it("every code the sources use is in the list, and every listed code is used", () => {
    const used = codesInSources();
    expect([...used].filter((code) => !list.has(code))).toEqual([]);
    expect([...list].filter((code) => !used.has(code))).toEqual([]);
  });

  it("every listed code is documented, and every documented code is in the list", () => {
    const documented = codesInDocs();
    expect([...list].filter((code) => !documented.has(code))).toEqual([]);
    expect([...documented].filter((code) => !list.has(code))).toEqual([]);
  });
});

describe("WeirError's code", () => {
  it("is checked by the compiler against the list", () => {
    // @ts-expect-error: not a code of the list; the compiler refuses it (npm run typecheck).
    const invented = new WeirError("WEIR_ERR_INVENTED_HERE", "x");
    expect(invented.code).toBe("WEIR_ERR_INVENTED_HERE");
  });
});
