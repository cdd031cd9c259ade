/**
 * The runners as a production worker runs: compiled JavaScript on plain `node`, no tsx in the
 * process (tsx alone holds ~35 MB of RSS and compiles on load). `tsc` compiles the runners and what
 * they import (weir's src/) into `.bench-build/` at the repository root, so their bare imports
 * (amqplib, pino) resolve from the repository's node_modules and its package.json makes them ES
 * modules. Both sides run compiled, so the comparison stays like for like.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

export const BUILD_DIR = ".bench-build";

/** Compiles the runners of bench/runners/ into `<root>/.bench-build/`; returns that folder. */
export function compileRunners(root: string): string {
  const out = join(root, BUILD_DIR);
  rmSync(out, { recursive: true, force: true });
  const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
  execFileSync(
    process.execPath,
    [
      tsc,
      ...["--outDir", out, "--rootDir", root],
      ...["--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022"],
      ...["--skipLibCheck", "--noCheck", "--declaration", "false", "--sourceMap", "false"],
      ...["raw", "weir", "http-server", "sse-server", "sse-client"].map((name) =>
        join(root, `bench/runners/${name}.ts`),
      ),
    ],
    { cwd: root, stdio: "inherit" },
  );
  return out;
}
