import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Parser } from "@asyncapi/parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Broker, uniqueName, waitFor } from "../helpers/amqp.js";
import { alive, CliProcess, runCli, runCliMany } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "weir-cli-"));

describe("weir: arguments", () => {
  it("prints the whole usage only without a command (exit 2) or when asked (exit 0)", async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("WEIR_ERR_CLI_USAGE");
    expect(none.stderr).toContain("Usage: weir <command>");
    for (const args of [["help"], ["--help"], ["-h"]]) {
      const help = await runCli(args);
      expect(help.code, args.join(" ")).toBe(0);
      expect(help.stdout).toContain("Usage: weir <command>");
      expect(help.stderr).toBe("");
    }
  });

  // Issue 13, point 10: `weir run --help` said "unknown option --help".
  it("prints a command's own usage for `weir <command> --help`, `-h` and `weir help <command>`", {
    timeout: 90_000,
  }, async () => {
    const commands = ["run", "routes", "publish", "dlq", "asyncapi"];
    const argsList = [
      ...commands.flatMap((command) => [
        [command, "--help"],
        ["help", command],
      ]),
      ["run", "-h"],
      ["run", "x.ts", "--workers", "2", "--help"],
      ["publish", "--transport", "amqp", "--help"],
      ["dlq", "--transport=amqp", "--help"],
    ];
    const results = await runCliMany(argsList);
    for (const [index, result] of results.entries()) {
      const args = argsList[index]!;
      const command = args[0] === "help" ? args[1] : args[0];
      expect(result.code, args.join(" ")).toBe(0);
      expect(result.stdout.startsWith(`Usage: weir ${command} `), args.join(" ")).toBe(true);
      expect(result.stderr).toBe("");
    }
  });

  // Issue 13, point 10: invalid JSON printed the whole usage.
  it("answers bad input with one line that names its code, and exit 2", { timeout: 90_000 }, async () => {
    const cases: Array<[string[], string]> = [
      [["frobnicate"], "WEIR_ERR_CLI_UNKNOWN_COMMAND"],
      [["help", "frobnicate"], "WEIR_ERR_CLI_UNKNOWN_COMMAND"],
      [["routes", "test/cli/fixtures/sample-app.ts", "--colour"], "WEIR_ERR_CLI_UNKNOWN_OPTION"],
      [["run", "-w", "3", "test/cli/fixtures/sample-app.ts"], "WEIR_ERR_CLI_UNKNOWN_OPTION"],
      [["routes"], "WEIR_ERR_CLI_ARGUMENT"],
      [["publish", "only-a-queue"], "WEIR_ERR_CLI_ARGUMENT"],
      [["publish", "q", "{}", "--timeout"], "WEIR_ERR_CLI_ARGUMENT"],
      [["publish", "q", "{not json"], "WEIR_ERR_CLI_BAD_JSON"],
      [["publish", "q", "{}", "--header", "novalue"], "WEIR_ERR_CLI_BAD_VALUE"],
      [["run", "test/cli/fixtures/sample-app.ts", "--workers", "0"], "WEIR_ERR_CLI_BAD_VALUE"],
      [["dlq", "inspect", "q"], "WEIR_ERR_CLI_UNKNOWN_COMMAND"],
      [["dlq", "list"], "WEIR_ERR_CLI_ARGUMENT"],
      [["publish", "q", "{}", "--transport", "carrier-pigeon"], "WEIR_ERR_CLI_ARGUMENT"],
      [["publish", "--transport", "carrier-pigeon", "--help"], "WEIR_ERR_CLI_ARGUMENT"],
      [["dlq", "list", "q", "--transport"], "WEIR_ERR_CLI_ARGUMENT"],
    ];
    const results = await runCliMany(cases.map(([args]) => args));
    for (const [index, [args, code]] of cases.entries()) {
      const result = results[index]!;
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.trimEnd().split("\n"), args.join(" ")).toHaveLength(1);
      expect(result.stderr, args.join(" ")).toContain(`(${code})`);
      expect(result.stderr).not.toContain("Usage:");
      expect(result.stdout).toBe("");
    }
  });

  it("points a mistake in another transport's variant at that variant's help, whose options it takes", async () => {
    const [redis, sqs, amqp] = await runCliMany([
      ["dlq", "--transport", "redis", "list", "s", "--bogus"],
      ["publish", "--transport=sqs", "q", "{}", "--grep", "x"],
      ["dlq", "list", "q", "--bogus"],
    ]);
    expect(redis!.stderr.trim()).toMatch(
      /\(WEIR_ERR_CLI_UNKNOWN_OPTION\); see weir dlq --transport redis --help$/,
    );
    expect(sqs!.stderr.trim()).toMatch(
      /\(WEIR_ERR_CLI_UNKNOWN_OPTION\); see weir publish --transport sqs --help$/,
    );
    expect(amqp!.stderr.trim()).toMatch(/\(WEIR_ERR_CLI_UNKNOWN_OPTION\); see weir dlq --help$/);
  });

  it("exits 2 when the module is missing or exports no App", async () => {
    const missing = await runCli(["routes", "test/cli/fixtures/nope.ts"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("module not found");
    const noApp = await runCli(["routes", "test/cli/fixtures/no-app.ts"]);
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain("WEIR_ERR_CLI_MODULE");
  });
});

describe("weir routes / asyncapi", () => {
  it("prints the route table, tasks marked, and as JSON", async () => {
    const table = await runCli(["routes", "test/cli/fixtures/sample-app.ts"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^TYPE\s+ROUTES\s+DETAILS$/);
    expect(table.stdout).toMatch(
      /amqp\s+sample\.orders\s+vhost=\/ prefetch=128 bulkSize=5 bulkFlushInterval=200 concurrency=1 onSuccess=ack onException=requeue declare schema=zod/,
    );
    expect(table.stdout).toMatch(/amqp task\s+sample\.emails/);
    expect(table.stdout).toMatch(/sse\s+\/v2\/events/);
    expect(table.stdout).toMatch(/http\s+\/health\/live\s+methods=GET/);
    const json = await runCli(["routes", "test/cli/fixtures/sample-app.ts", "--json"]);
    const rows = JSON.parse(json.stdout) as Array<{ type: string; routes: string[]; task?: string }>;
    expect(rows.map((row) => row.type)).toEqual(["amqp", "amqp", "sse", "http"]);
    expect(rows[1]).toMatchObject({ task: "sample.emails", routes: ["sample.emails"] });
  });

  it("lists typed publishers after the routes, and as send operations in the AsyncAPI document (issue #17)", async () => {
    const table = await runCli(["routes", "examples/12-publishers.ts"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stderr).toBe("");
    const lines = table.stdout.trim().split("\n");
    expect(lines.slice(-2)).toEqual([
      expect.stringMatching(
        /^amqp publisher\s+weir\.demo\.shop:order\.created\s+name=orderCreated vhost=\/ persistent mandatory timeout=10000 headers=x-source schema=zod$/,
      ),
      expect.stringMatching(
        /^amqp publisher\s+\(default\):weir\.demo\.invoices\s+name=invoices vhost=\/ persistent mandatory expiration=60000 timeout=10000 schema=zod$/,
      ),
    ]);
    const json = await runCli(["routes", "examples/12-publishers.ts", "--json"]);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(rows.slice(-2)).toEqual([
      {
        type: "amqp",
        publisher: "orderCreated",
        destination: "weir.demo.shop:order.created",
        details: {
          vhost: "/",
          persistent: true,
          mandatory: true,
          timeout: 10_000,
          headers: "x-source",
          schema: "zod",
        },
      },
      expect.objectContaining({ publisher: "invoices", destination: "(default):weir.demo.invoices" }),
    ]);

    const asyncapi = await runCli(["asyncapi", "examples/12-publishers.ts"]);
    expect(asyncapi.code, asyncapi.stderr).toBe(0);
    const { document, diagnostics } = await new Parser().parse(asyncapi.stdout);
    expect(diagnostics.filter((diagnostic) => diagnostic.severity <= 1)).toEqual([]);
    const sends = document!
      .operations()
      .all()
      .filter((operation) => operation.action() === "send")
      .map((operation) => `${operation.id()} -> ${operation.channels().all()[0]?.address()}`);
    expect(sends).toEqual(["send.orderCreated -> order.created", "send.invoices -> weir.demo.invoices"]);
  });

  it("reads the App an exported createApp() factory returns", async () => {
    const result = await runCli(["routes", "test/cli/fixtures/factory.ts", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject([{ type: "amqp", routes: ["factory.orders"] }]);
  });

  it("writes an AsyncAPI 3 document that the official parser validates", async () => {
    const out = join(tmp, "asyncapi.json");
    const result = await runCli([
      "asyncapi",
      "test/cli/fixtures/sample-app.ts",
      "--out",
      out,
      "--version",
      "3.2.1",
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`wrote ${out}`);
    const text = readFileSync(out, "utf8");
    const { document, diagnostics } = await new Parser().parse(text);
    expect(diagnostics.filter((diagnostic) => diagnostic.severity <= 1)).toEqual([]);
    expect(document?.info().version()).toBe("3.2.1");
    expect(
      document
        ?.channels()
        .all()
        .map((channel) => channel.address()),
    ).toEqual(expect.arrayContaining(["sample.orders", "sample.emails", "/v2/events"]));
    const stdout = await runCli(["asyncapi", "examples/09-tasks.ts"]);
    expect(stdout.code).toBe(0);
    expect(JSON.parse(stdout.stdout)).toMatchObject({ asyncapi: "3.0.0", info: { title: "tasks-example" } });
  });
});

describe("weir publish", () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await Broker.connect();
  });
  afterAll(async () => {
    await broker.close();
  });

  it("publishes with confirms, headers included, with a generated messageId and a timestamp", async () => {
    const queue = await broker.queue(uniqueName("cli-publish"));
    const result = await runCli(["publish", queue, '{"id":1,"tags":["a"]}', "--header", "tenant=t1"]);
    expect(result.stderr).toContain("confirmed");
    expect(result.code).toBe(0);
    const [message, ...rest] = await broker.getAll(queue);
    expect(rest).toEqual([]);
    expect(JSON.parse(message!.content.toString())).toEqual({ id: 1, tags: ["a"] });
    expect(message!.properties).toMatchObject({
      headers: { tenant: "t1" },
      messageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      timestamp: expect.any(Number),
    });
  });

  it("refuses a queue that does not exist instead of letting the broker drop the message", async () => {
    const result = await runCli(["publish", uniqueName("missing"), "{}"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("WEIR_ERR_CLI_NO_QUEUE");
  });

  it("an exchange whose bindings match nothing, or no exchange at all: exit 1 with the publish's code (issue 14.4)", async () => {
    // amq.direct always exists and has no binding for a fresh routing key.
    const [unbound, missing] = await Promise.all([
      runCli(["publish", uniqueName("no-binding"), "{}", "--exchange", "amq.direct"]),
      runCli(["publish", "k", "{}", "--exchange", uniqueName("no-such-exchange")]),
    ]);
    expect(unbound.code).toBe(1);
    expect(unbound.stderr).toContain("WEIR_ERR_PUBLISH_UNROUTABLE");
    expect(unbound.stderr).not.toContain("confirmed");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("WEIR_ERR_PUBLISH_NO_EXCHANGE");
  });

  it("weir run: a start that fails exits 1 with the error's code, not 0", async () => {
    const queue = uniqueName("run-missing");
    const result = await runCli(["run", "test/cli/fixtures/missing-queue.ts"], {
      MISSING_QUEUE: queue,
      WEIR_LOG_FORMAT: "json",
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("WEIR_ERR_QUEUE_NOT_FOUND");
  });

  it("exits 1 with the redacted URL when the broker cannot be reached", async () => {
    const result = await runCli(["publish", "q", "{}", "--url", "amqp://admin:hunter2@127.0.0.1:1/prod"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot connect to amqp://admin:***@127.0.0.1:1/prod");
    expect(result.stderr).not.toContain("hunter2");
  });
});

describe("weir dlq", () => {
  it("lists, replays and purges dead letters (a 64-bit header in --json: issue #14.3)", async () => {
    const queue = uniqueName("cli-dlq");
    const broker = await Broker.connect();
    try {
      await broker.queue(queue);
      const dlq = await broker.queue(`${queue}.dlq`);
      await broker.publish(dlq, [{ n: 1 }, { n: 2 }], {
        headers: {
          "x-weir-original-queue": queue,
          "x-weir-reason": "max-attempts",
          "x-weir-attempts": 3,
          id: { "!": "long", value: 1234567890123456789n },
          at: { "!": "timestamp", value: 1_700_000_000 },
        },
      });
      const list = await runCli(["dlq", "list", queue]);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain('body={"n":1}');
      expect(list.stdout).toContain("reason=max-attempts");
      const json = await runCli(["dlq", "list", queue, "--json", "--limit", "1"]);
      expect(JSON.parse(json.stdout)).toMatchObject([
        {
          body: { n: 1 },
          reason: "max-attempts",
          attempts: 3,
          headers: { id: "1234567890123456789", at: "2023-11-14T22:13:20.000Z" },
        },
      ]);
      const replay = await runCli(["dlq", "replay", queue, "--grep", '"n":2']);
      expect(replay.code).toBe(0);
      expect(replay.stderr).toContain("replayed 1");
      expect(await broker.drain(queue)).toEqual([{ n: 2 }]);
      const purge = await runCli(["dlq", "purge", queue]);
      expect(purge.code).toBe(0);
      expect(purge.stderr).toContain("purged 1 dead letter(s)");
      expect(await broker.count(dlq)).toBe(0);
      const missing = await runCli(["dlq", "list", uniqueName("no-dlq")]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("WEIR_ERR_DLQ_NOT_FOUND");
      const unreachable = await runCli(["dlq", "list", queue, "--url", "amqp://u:pw123@127.0.0.1:1"]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toContain("cannot connect to amqp://u:***@127.0.0.1:1");
      expect(unreachable.stderr).not.toContain("pw123");
    } finally {
      await broker.close();
    }
  });
});

describe("weir run", () => {
  it("runs one process and stops it cleanly on SIGTERM", async () => {
    const queue = uniqueName("cli-run-one");
    const weir = new CliProcess(["run", "test/cli/fixtures/sample-app.ts"], {
      SAMPLE_QUEUE: queue,
      SAMPLE_NO_EXTRAS: "1",
    });
    const broker = await Broker.connect();
    try {
      await waitFor(() => weir.logs("app started").length === 1, 15_000, "the app to start");
      await broker.publish(queue, [{ id: 1 }, { id: 2 }]);
      await waitFor(() => weir.logs("order handled").length === 2, 5_000, "the orders");
      weir.kill("SIGTERM");
      expect(await weir.exited).toEqual({ code: 0, signal: null });
    } finally {
      await broker.deleteQueue(queue).catch(() => {});
      await broker.deleteQueue("sample.emails").catch(() => {});
      await broker.close();
    }
  });

  it("runs the app of a createApp() factory", async () => {
    const queue = uniqueName("cli-run-factory");
    const weir = new CliProcess(["run", "test/cli/fixtures/factory.ts"], { FACTORY_QUEUE: queue });
    const broker = await Broker.connect();
    try {
      await waitFor(() => weir.logs("app started").length === 1, 15_000, "the app to start");
      await broker.publish(queue, [{ id: 7 }]);
      await waitFor(() => weir.logs("factory order handled").length === 1, 5_000, "the order");
      weir.kill("SIGTERM");
      expect(await weir.exited).toEqual({ code: 0, signal: null });
    } finally {
      await broker.deleteQueue(queue).catch(() => {});
      await broker.close();
    }
  });

  it("runs 4 workers that share a queue, enqueued from another process; SIGTERM stops all with exit 0", async () => {
    const queue = uniqueName("cli-workers");
    const env = { TASK_QUEUE: queue, TASK_PREFETCH: "1", TASK_WORK_MS: "20" };
    const weir = new CliProcess(["run", "examples/09-tasks.ts", "--workers", "4"], env);
    const broker = await Broker.connect();
    try {
      await waitFor(() => (weir.stderr.match(/ready/g) ?? []).length === 4, 20_000, "4 workers to be ready");
      const workerPids = [...weir.stderr.matchAll(/worker \d \(pid (\d+)\) ready/g)].map((match) =>
        Number(match[1]),
      );
      expect(new Set(workerPids).size).toBe(4);

      // The producer is another process: the example run as a script enqueues 40 tasks.
      const producer = spawn(process.execPath, ["--import", "tsx", "examples/09-tasks.ts", "40"], {
        env: { ...process.env, ...env },
        stdio: "ignore",
      });
      const produced = await new Promise<number | null>((resolve) => producer.on("exit", resolve));
      expect(produced).toBe(0);

      await waitFor(() => weir.logs("thumbnail made").length === 40, 20_000, "40 tasks to run");
      const handledBy = new Set(weir.logs("thumbnail made").map((line) => line.pid as number));
      expect(handledBy.size).toBeGreaterThanOrEqual(2);
      expect(handledBy).toEqual(new Set(workerPids));
      const ids = weir.logs("thumbnail made").map((line) => line.imageId as number);
      expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));

      weir.kill("SIGTERM");
      expect(await weir.exited).toEqual({ code: 0, signal: null });
      expect(workerPids.filter(alive)).toEqual([]);
      expect(weir.logs("stopped")).toHaveLength(4);
    } finally {
      for (const name of [queue, `${queue}.retry.2000`, `${queue}.dlq`])
        await broker.deleteQueue(name).catch(() => {});
      await broker.close();
    }
  });

  // Generous waits: under CI load a worker restarted through tsx can take several seconds to be ready.
  it("restarts a worker that crashes, with backoff", { timeout: 120_000 }, async () => {
    const queue = uniqueName("cli-crash");
    const marker = join(tmp, `crash-${queue}`);
    const weir = new CliProcess(["run", "test/cli/fixtures/crashy.ts", "--workers", "2"], {
      CRASHY_QUEUE: queue,
      CRASHY_MARKER: marker,
    });
    const broker = await Broker.connect();
    try {
      await waitFor(
        () => /worker 1 \(pid \d+\) exited \(code 3\); restarting in 500 ms/.test(weir.stderr),
        45_000,
        "the crash",
      );
      await waitFor(
        () => (weir.stderr.match(/worker 1 \(pid \d+\) ready/g) ?? []).length === 2,
        45_000,
        "the restart",
      );
      const crashed = Number(readFileSync(marker, "utf8"));
      const pids = [...weir.stderr.matchAll(/worker 1 \(pid (\d+)\) ready/g)].map((match) =>
        Number(match[1]),
      );
      expect(pids[0]).toBe(crashed);
      expect(pids[1]).not.toBe(crashed);
      weir.kill("SIGTERM");
      expect((await weir.exited).code).toBe(0);
    } finally {
      await broker.deleteQueue(queue).catch(() => {});
      await broker.close();
    }
  });
});
