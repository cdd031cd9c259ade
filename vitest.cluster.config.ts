import { defineConfig } from "vitest/config";

/**
 * The cluster tests (test/cluster, issue #18): one 3-node RabbitMQ cluster of extra nodes (their
 * own ports, their own data; never the node on 5672), started once by the globalSetup for every
 * file and torn down after. The files stop, kill and restart its nodes, so they run one at a time,
 * after the fault tests (`npm test`; `npm run test:cluster` runs them alone).
 */
export default defineConfig({
  test: {
    include: ["test/cluster/**/*.test.ts"],
    globalSetup: ["test/cluster/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
  },
});
