import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/faults/**", "node_modules/**"],
    globalSetup: ["test/global-setup.ts"],
    // Integration tests talk to one real RabbitMQ; each uses its own uniquely named queues, so files
    // may run in parallel. Fault tests break the broker on purpose and run alone, after these
    // (vitest.faults.config.ts).
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default"],
  },
});
