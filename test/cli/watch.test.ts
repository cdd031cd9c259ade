import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { readEnvFile } from "../../src/cli/env-file.js";
import { waitFor } from "../helpers/amqp.js";
import { CliProcess, runCli } from "./helpers.js";

/** A project folder outside the repository: a worker that needs no broker, and its .env file. */
function project(): { dir: string; worker: string; env: string } {
  const dir = mkdtempSync(join(tmpdir(), "weir-watch-"));
  const worker = join(dir, "worker.ts");
  writeFileSync(
    worker,
    `import { App } from ${JSON.stringify(pathToFileURL(resolve("src/index.ts")).href)};
export const app = new App({ name: "watched", shutdownTimeout: 2_000 });
app.runEvery(60_000, async function greet(app) {
  app.logger.info({ greeting: process.env.GREETING }, "greeting");
});
`,
  );
  const env = join(dir, ".env");
  writeFileSync(env, "GREETING=hello\n");
  return { dir, worker, env };
}

/** Where each log message occurs in the output, in order. */
function sequence(weir: CliProcess): string[] {
  return weir.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => (JSON.parse(line) as { msg: string }).msg)
    .filter((msg) => msg === "app started" || msg === "stopped");
}

describe("weir run --watch / --env-file (a development loop, issue 13)", () => {
  it("restarts the worker after a file write, draining the old one first; --env-file is read again", {
    timeout: 60_000,
  }, async () => {
    const { dir, worker, env } = project();
    const weir = new CliProcess(["run", "--watch", worker, "--env-file", env]);
    try {
      await waitFor(() => weir.logs("greeting").length === 1, 20_000, "the first start");
      expect(weir.logs("greeting")[0]?.greeting).toBe("hello");

      writeFileSync(env, "GREETING=hello again\n");
      await waitFor(() => weir.logs("greeting").length === 2, 20_000, "the restart after .env changed");
      expect(weir.logs("greeting")[1]?.greeting).toBe("hello again");
      expect(weir.stderr).toMatch(/\.env changed: restarting/);

      writeFileSync(join(dir, "helper.ts"), "export const answer = 42;\n");
      await waitFor(() => weir.logs("greeting").length === 3, 20_000, "the restart after helper.ts appeared");
      expect(weir.stderr).toMatch(/helper\.ts changed: restarting/);
      // The greeting can come before the start has finished: stop only a worker that is up.
      await waitFor(() => sequence(weir).length === 5, 20_000, "the third start");
      weir.kill("SIGTERM");
      expect(await weir.exited).toEqual({ code: 0, signal: null });
      // Each worker stopped (drained) before the next one started.
      expect(sequence(weir)).toEqual([
        "app started",
        "stopped",
        "app started",
        "stopped",
        "app started",
        "stopped",
      ]);
    } finally {
      weir.kill("SIGKILL");
    }
  });

  it("--env-file sets what the module reads, and the environment wins over the file", async () => {
    const { dir } = project();
    const env = join(dir, "queues.env");
    writeFileSync(env, "# the queue of the sample app\nSAMPLE_QUEUE=from.env.file\n");
    const fromFile = await runCli(["routes", "test/cli/fixtures/sample-app.ts", "--env-file", env, "--json"]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout)[0]).toMatchObject({ routes: ["from.env.file"] });

    const fromShell = await runCli(
      ["routes", "test/cli/fixtures/sample-app.ts", "--env-file", env, "--json"],
      {
        SAMPLE_QUEUE: "from.shell",
      },
    );
    expect(JSON.parse(fromShell.stdout)[0]).toMatchObject({ routes: ["from.shell"] });

    const nope = join(dir, "nope.env");
    const missing = await runCli(["routes", "test/cli/fixtures/sample-app.ts", "--env-file", nope]);
    // Node 20 itself looks for an --env-file anywhere on its command line, the script's arguments
    // included, and exits 9 before weir runs when it is missing; later Nodes leave it to weir.
    if (missing.code === 9) expect(missing.stderr).toContain(`${nope}: not found`);
    else {
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`--env-file ${nope}: no such file (WEIR_ERR_CLI_BAD_VALUE)`);
    }
  });

  it("reads a .env file with Node's parser; a file that cannot be read is a usage error", () => {
    const { dir } = project();
    const file = join(dir, "parsed.env");
    writeFileSync(file, 'export PLAIN=1\nQUOTED="a # b"\n# comment\nPATH=/nowhere\n');
    // PATH is set in this process's environment already: the file does not override it.
    expect(readEnvFile(file)).toEqual({ PLAIN: "1", QUOTED: "a # b" });
    expect(() => readEnvFile(join(dir, "nope.env"))).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_CLI_BAD_VALUE" }),
    );
  });
});
