import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PROFILE_DIR } from "./child.js";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/**
 * The command line of a runner of bench/runners/: compiled JavaScript on plain `node` when
 * `compiled` names the build (bench/lib/compile.ts), else the TypeScript through tsx. With
 * `profile`, V8 writes a CPU profile of the process to PROFILE_DIR when it exits.
 */
export function runnerCommand(
  name: string,
  args: readonly string[],
  { compiled, profile = false }: { compiled: string | undefined; profile?: boolean },
): string[] {
  const file =
    compiled === undefined
      ? join(ROOT, "bench", "runners", `${name}.ts`)
      : join(compiled, "bench", "runners", `${name}.js`);
  const execArgv = compiled === undefined ? ["--import", "tsx"] : [];
  if (profile) execArgv.push("--cpu-prof", "--cpu-prof-dir", PROFILE_DIR);
  return [process.execPath, ...execArgv, file, ...args];
}
