import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * Test files run in parallel processes. Vitest's default is one fewer than the cores, which is a
 * single process on a 2-core machine, yet these files mostly wait on brokers, timers and child
 * processes: three at a time took the suite from 636 s to 375 s on such a machine (under load from
 * other work) without a new failure. Files use their own uniquely named queues, streams and
 * subjects, so they do not see each other.
 */
const WORKERS = Math.max(3, availableParallelism() - 1);

/**
 * Files that need no service at all (no RabbitMQ, Redis, NATS or PostgreSQL; at most a server of
 * their own on loopback): they run without the RabbitMQ check of test/global-setup.ts, so they
 * neither wait for nor fail on a broker. Each was checked by running it in a network namespace
 * holding only a loopback interface (issue #16). A file that starts needing a service belongs in
 * `integration`: it fails here at once with ECONNREFUSED when run alone.
 */
const UNIT = [
  "test/amqp/channel-session.test.ts",
  "test/amqp/field-table.test.ts",
  "test/amqp/hosts.test.ts",
  "test/amqp/retry-units.test.ts",
  "test/asyncapi/asyncapi.test.ts",
  "test/cli/examples.test.ts",
  "test/cli/version.test.ts",
  "test/cli/watch.test.ts",
  "test/core/bulk-pipeline.test.ts",
  "test/core/codec.test.ts",
  "test/core/custom-transport.test.ts",
  "test/core/error-codes.test.ts",
  "test/core/exports.test.ts",
  "test/core/inspect.test.ts",
  "test/core/lazy-load.test.ts",
  "test/core/route-typing.test.ts",
  "test/core/run-every.test.ts",
  "test/core/transport-plugins.test.ts",
  "test/core/unknown-options.test.ts",
  "test/http/auth-flood.test.ts",
  "test/http/basic-auth.test.ts",
  "test/http/fuzz.test.ts",
  "test/http/json-bodies.test.ts",
  "test/http/jwt-auth.test.ts",
  "test/http/routes.test.ts",
  "test/http/timeouts.test.ts",
  "test/observability/sse.test.ts",
  "test/sse/auth.test.ts",
  "test/sse/consume.test.ts",
  "test/sse/handler-timeout.test.ts",
  "test/sse/handler.test.ts",
  "test/sse/limits.test.ts",
  "test/sse/media-type.test.ts",
  "test/sse/policies.test.ts",
  "test/sse/reconnect.test.ts",
  "test/sse/registration.test.ts",
  "test/sse/units.test.ts",
  "test/testing/amqp.test.ts",
  "test/testing/attribution.test.ts",
  "test/testing/nats.test.ts",
  "test/testing/publishers.test.ts",
  "test/testing/sse-http.test.ts",
  "test/testing/streams.test.ts",
  "test/testing/topology.test.ts",
  "test/testing/unsupported-arguments.test.ts",
  "test/utils/action-queue.test.ts",
  "test/utils/backoff.test.ts",
  "test/utils/index.test.ts",
  "test/utils/timeit.test.ts",
];

/**
 * The AMQP behaviour tests that run twice: against RabbitMQ (`integration`) and against
 * weir/testing's in-memory broker (`amqp-memory`, `WEIR_TEST_BROKER=memory`: test/helpers/amqp.ts
 * builds its apps and its `Broker` on that broker). What the in-memory broker deliberately does not
 * do is listed in test/helpers/broker-differences.ts and shows as skips with their reason.
 */
const ON_BOTH_BROKERS = [
  "test/amqp/consume.test.ts",
  "test/amqp/actions.test.ts",
  "test/amqp/retry.test.ts",
  "test/amqp/once.test.ts",
  "test/amqp/publish.test.ts",
  "test/amqp/publishers.test.ts",
  "test/amqp/shutdown.test.ts",
  "test/amqp/request-reply.test.ts",
  "test/amqp/streams.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    maxWorkers: WORKERS,
    minWorkers: 1,
    reporters: ["default"],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: UNIT },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: ["test/faults/**", "test/cluster/**", "node_modules/**", ...UNIT],
          // Integration tests talk to one real RabbitMQ; each uses its own uniquely named queues,
          // so files may run in parallel. Fault tests break the broker on purpose and run alone,
          // after these (vitest.faults.config.ts), then the cluster tests (vitest.cluster.config.ts).
          globalSetup: ["test/global-setup.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "amqp-memory",
          include: ON_BOTH_BROKERS,
          env: { WEIR_TEST_BROKER: "memory" },
        },
      },
    ],
  },
});
