import { appendFileSync, mkdirSync } from "node:fs";

/**
 * Fault tests print their counts (published, processed, duplicates, lost, time to resume) so runs
 * can be compared, and append them to test/faults/results.log (ignored by git).
 */
export function report(test: string, figures: Record<string, unknown>): void {
  const line = `${new Date().toISOString()} ${test} ${JSON.stringify(figures)}\n`;
  process.stdout.write(`[fault] ${line}`);
  mkdirSync("test/faults", { recursive: true });
  appendFileSync("test/faults/results.log", line);
}
