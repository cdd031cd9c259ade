import { defineConfig } from "vitest/config";

/**
 * The fault tests (test/faults): they close connections, kill workers and restart the broker, so
 * they run one file at a time, after the main suite (`npm run test:faults` runs them alone).
 */
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
  },
});
