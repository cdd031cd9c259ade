import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AMQP_URL, uniqueName, waitFor } from "../helpers/amqp.js";
import { createVhost, deleteVhost } from "../helpers/rabbitmqctl.js";
import { type FixtureResult, jsonLines, RunningProcess, startFixture } from "../helpers/run-fixture.js";

const RUN_APP = "test/core/fixtures/run-app.ts";

const running: RunningProcess[] = [];
afterEach(() => {
  for (const process of running.splice(0)) process.kill();
});

function track(process: RunningProcess): RunningProcess {
  running.push(process);
  return process;
}

function messages(result: FixtureResult): string[] {
  return jsonLines(result.stdout).map((line) => String(line.msg));
}

/** A drained stop: exit 0, one stop request, "stopped" last, no forced exit. */
function expectCleanStop(result: FixtureResult): void {
  expect({ code: result.code, signal: result.signal }, result.stdout + result.stderr).toEqual({
    code: 0,
    signal: null,
  });
  const said = messages(result);
  expect(said.filter((msg) => msg === "signal received, stopping")).toHaveLength(1);
  expect(said.at(-1)).toBe("stopped");
  expect(result.stdout).not.toContain("exiting without waiting");
}

describe('npm start ends with "stopped" and exit 0 (issue 13)', () => {
  // The demo worker's queue lives in a vhost of this test's own, so it cannot meet another run's.
  const vhost = `weir-test-npm-start-${randomUUID().slice(0, 8)}`;
  const env: Record<string, string> = {};
  beforeAll(async () => {
    await createVhost(vhost);
    const url = new URL(AMQP_URL);
    url.pathname = `/${encodeURIComponent(vhost)}`;
    env.WEIR_AMQP_URL = url.toString();
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  async function npmStart(): Promise<RunningProcess> {
    // Its own process group, as a terminal gives the command it runs.
    const npm = track(new RunningProcess("npm", ["start"], env, true));
    await npm.waitForOutput(/demo worker running/, 30_000);
    return npm;
  }

  async function expectNothingLeft(npm: RunningProcess): Promise<void> {
    // Nothing of the group may outlive npm: an orphaned worker would keep consuming.
    await waitFor(() => !npm.groupAlive(), 3000, "the process group to be gone");
  }

  it("Ctrl-C: SIGINT to the whole process group (npm forwards it too: two signals, one stop)", async () => {
    const npm = await npmStart();
    npm.signalGroup("SIGINT");
    expectCleanStop(await npm.waitExit(20_000));
    await expectNothingLeft(npm);
  }, 60_000);

  it("SIGTERM to the npm process only (what a supervisor sends)", async () => {
    const npm = await npmStart();
    npm.signal("SIGTERM");
    expectCleanStop(await npm.waitExit(20_000));
    await expectNothingLeft(npm);
  }, 60_000);
});

describe("app.run(): two signals within 1 s are one stop; a third, or a later second, forces exit 130", () => {
  async function started(fixtureCase: string): Promise<RunningProcess> {
    const app = track(
      startFixture(RUN_APP, { FIXTURE_CASE: fixtureCase, FIXTURE_QUEUE: uniqueName("signals") }),
    );
    await app.waitForOutput(/"msg":"app started"/);
    return app;
  }

  it("SIGINT then SIGTERM at once: one drained stop, exit 0", async () => {
    const app = await started("slow-stop");
    app.signal("SIGINT");
    app.signal("SIGTERM");
    expectCleanStop(await app.waitExit(20_000));
  });

  it("a second signal more than 1 s after the first forces the exit (130), without waiting for the drain", async () => {
    const app = await started("slow-stop");
    app.signal("SIGINT");
    await app.waitForOutput(/"msg":"stopping"/);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const began = Date.now();
    app.signal("SIGINT");
    const result = await app.waitExit(20_000);
    expect(Date.now() - began).toBeLessThan(2000);
    expect(result.code).toBe(130);
    expect(messages(result)).toContain("signal received again: exiting without waiting");
    expect(messages(result)).not.toContain("stopped");
  });

  it("a third signal within the second forces the exit (130)", async () => {
    const app = await started("slow-stop");
    app.signal("SIGINT");
    await app.waitForOutput(/"msg":"stopping"/);
    // Two different signals: the kernel merges a signal into a pending one of the same kind.
    app.signal("SIGTERM");
    app.signal("SIGINT");
    const result = await app.waitExit(20_000);
    expect(result.code).toBe(130);
    expect(messages(result)).not.toContain("stopped");
  });
});
