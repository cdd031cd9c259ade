import { describe, expect, it } from "vitest";
import { AMQP_URL, uniqueName } from "../helpers/amqp.js";
import { jsonLines, runFixture } from "../helpers/run-fixture.js";

const RUN_APP = "test/core/fixtures/run-app.ts";

/** What a failed `app.run()` must look like: exit 1, one error line with the code, no Node stack. */
function expectOneCleanFailure(
  result: Awaited<ReturnType<typeof runFixture>>,
  code: string,
  reason: RegExp,
): void {
  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stderr).toBe("");
  const lines = jsonLines(result.stdout);
  const errors = lines.filter((line) => (line.level as number) >= 50);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ name: "run-fixture", code, reason: expect.stringMatching(reason) });
  expect(result.stdout).not.toContain('"stack"');
  expect(lines.at(-1)?.msg).toBe("stopped");
}

describe("app.run() when start fails: one line with the code, exit 1, no uncaught-exception stack (issue 13)", () => {
  it("a queue that does not exist, without declare", async () => {
    const queue = uniqueName("run-missing");
    const result = await runFixture(RUN_APP, { FIXTURE_CASE: "missing-queue", FIXTURE_QUEUE: queue });
    expectOneCleanFailure(result, "WEIR_ERR_QUEUE_NOT_FOUND", new RegExp(`queue "${queue}" does not exist`));
  });

  it("amqp.reconnect.maxAttempts exhausted", async () => {
    const result = await runFixture(RUN_APP, {
      FIXTURE_CASE: "max-attempts",
      FIXTURE_URL: "amqp://guest:guest@127.0.0.1:1",
    });
    expectOneCleanFailure(result, "WEIR_ERR_CONNECTION", /after 2 attempts/);
  });

  it("a login the broker refuses (403), at once", async () => {
    const url = new URL(AMQP_URL);
    url.password = "not-the-password";
    const result = await runFixture(RUN_APP, { FIXTURE_CASE: "missing-queue", FIXTURE_URL: url.toString() });
    expectOneCleanFailure(result, "WEIR_ERR_AUTH", /refused the login of user "guest" on vhost "\/"/);
    expect(result.stdout).not.toContain("not-the-password");
  });
});
