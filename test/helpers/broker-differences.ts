import type { BackendName } from "./backends.js";

/**
 * The deliberate differences of weir/testing's in-memory broker from RabbitMQ, in one place
 * (Watermill's `Features`). A shared case a backend does not pass is skipped there with its
 * `reason` in the test's name, so every difference is visible in the test report as a skip.
 * docs/testing.md lists the same entries. Shared cases: test/amqp/channel-contract.test.ts, and the
 * AMQP behaviour files the `amqp-memory` vitest project runs again on memory (vitest.config.ts;
 * skip one with `differs(TEST_BROKER, name)`, as test/amqp/publish.test.ts does).
 */
export interface BrokerDifference {
  /** The id of the shared case it skips. */
  readonly name: string;
  readonly backend: BackendName;
  readonly reason: string;
}

export const BROKER_DIFFERENCES: readonly BrokerDifference[] = [
  {
    name: "x-max-length drops the oldest ready message when the queue is full",
    backend: "memory",
    reason:
      "length limits are not emulated; the in-memory broker refuses x-max-length, x-max-length-bytes and x-overflow other than reject-publish without a limit (WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT)",
  },
  {
    name: "x-expires deletes a queue left unused that long",
    backend: "memory",
    reason:
      "x-expires is accepted, not enforced: it is the lease of weir's own delay queues, which outlives every message they hold",
  },
  {
    name: "a mandatory publish no queue takes comes back (basic.return) before its confirm",
    backend: "memory",
    reason:
      "no basic.return: a publish no queue takes is confirmed and recorded with queues: [] (in production weir rejects it with WEIR_ERR_PUBLISH_UNROUTABLE)",
  },
  {
    name: "a publish to a missing exchange closes the channel (404 on basic.publish) and discards what follows",
    backend: "memory",
    reason:
      "the close names no method (class/method 0) and publishes after it in the same turn are routed, so weir reports WEIR_ERR_PUBLISH_UNCONFIRMED there instead of WEIR_ERR_PUBLISH_NO_EXCHANGE",
  },
  {
    name: "a priority queue (x-max-priority) delivers higher priorities first",
    backend: "memory",
    reason:
      "priority queues are not emulated; the in-memory broker refuses x-max-priority (WEIR_ERR_TEST_UNSUPPORTED_ARGUMENT)",
  },
  {
    name: "a request no queue is bound for rejects at once with WEIR_ERR_PUBLISH_UNROUTABLE",
    backend: "memory",
    reason:
      "no basic.return (see above): a request no queue takes waits for its timeout there (WEIR_ERR_REQUEST_TIMEOUT)",
  },
  {
    name: "a stream worker killed with SIGKILL resumes from its stored offset",
    backend: "memory",
    reason:
      "the worker runs in a child process, which cannot reach the test's in-memory broker; the restart of a stream route within one process runs on both",
  },
];

/** The reason `backend` skips case `name`, or undefined when it runs it. */
export function differs(backend: BackendName, name: string): string | undefined {
  return BROKER_DIFFERENCES.find((entry) => entry.backend === backend && entry.name === name)?.reason;
}
