import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Keeps the benchmark harness from rotting: its smoke mode (small n, one repetition, every pair) runs
 * against the local broker and exits non-zero if any side lost, duplicated or failed to ack a
 * message. No timing is asserted: speed is for `npm run bench`, not for CI.
 */
describe("bench smoke mode", () => {
  it("runs every pair once, checks the counts (and every HTTP request answered) and prints the tables", async () => {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run.ts"), "--smoke"], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("error", reject);
      child.on("close", (exitCode) => resolve({ code: exitCode, stdout, stderr }));
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("| pair |");
    for (const pair of ["1. per-message", "2. bulk", "3. publish", "5. HTTP", "6. SSE"]) {
      expect(stdout).toContain(pair);
    }
  }, 90_000);
});
