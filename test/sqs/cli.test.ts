import { afterAll, describe, expect, it } from "vitest";
import { App, RouteTypes } from "../../src/index.js";
import { runCli } from "../cli/helpers.js";
import { silentLogger } from "../helpers/amqp.js";
import { rawClient, SQSQueues, sqsEmulator, sqsQueueName, TEST_CREDENTIALS } from "../helpers/sqs.js";
import { until } from "../transports/delivery-behaviour.js";

const emulator = await sqsEmulator();
const queues = new SQSQueues(rawClient(emulator));
const ENV = {
  WEIR_SQS_ENDPOINT: emulator.endpoint,
  AWS_REGION: "us-east-1",
  // The AWS SDK warns on stderr that its releases after January 2027 need Node 22.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
};
afterAll(async () => {
  await queues.cleanup();
  await emulator.stop();
});

describe("weir publish / dlq --transport sqs", () => {
  it("--url is another name of --endpoint (the flag AMQP and Redis use), for publish and dlq; both given is a usage error", async () => {
    const queue = sqsQueueName("cliurl");
    await queues.create(queue);
    // WEIR_SQS_ENDPOINT names a dead port: only --url reaches the emulator.
    const dead = { ...ENV, WEIR_SQS_ENDPOINT: "http://127.0.0.1:1" };
    const published = await runCli(
      ["publish", "--transport", "sqs", queue, '{"n":1}', "--url", emulator.endpoint],
      dead,
    );
    expect(published.stderr).toMatch(/published to SQS queue/);
    expect(published.code).toBe(0);
    expect(await queues.peek(queue)).toEqual([{ n: 1 }]);

    const both = await runCli(
      [
        "publish",
        "--transport",
        "sqs",
        queue,
        '{"n":2}',
        "--url",
        emulator.endpoint,
        "--endpoint",
        emulator.endpoint,
      ],
      dead,
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("WEIR_ERR_CLI_ARGUMENT");
    const bothDlq = await runCli(
      [
        "dlq",
        "--transport",
        "sqs",
        "list",
        queue,
        "--url",
        emulator.endpoint,
        "--endpoint",
        emulator.endpoint,
      ],
      dead,
    );
    expect(bothDlq.code).toBe(2);
    expect(bothDlq.stderr).toContain("WEIR_ERR_CLI_ARGUMENT");
    expect(await queues.peek(queue)).toEqual([{ n: 1 }]);
    const help = await runCli(["publish", "--transport", "sqs", "--help"]);
    expect(help.stdout).toContain("--url URL");
  });

  it("publishes, lists, replays and purges a route's dead letters", async () => {
    const queue = sqsQueueName("cli");
    await queues.create(queue);
    const published = await runCli(["publish", "--transport", "sqs", queue, '{"n":1}'], ENV);
    expect(published.stderr).toMatch(/published to SQS queue/);
    expect(published.code).toBe(0);
    expect(await queues.peek(queue)).toEqual([{ n: 1 }]);

    // A route dead-letters it to <queue>-dlq.
    const app = new App({
      logger: silentLogger,
      sqs: { endpoint: emulator.endpoint, region: "us-east-1", credentials: { ...TEST_CREDENTIALS } },
    });
    app.route([queue], { type: RouteTypes.SQS, waitTime: 1_000, deadLetter: true }, (messages) => {
      for (const m of messages) m.deadLetter("bad order");
    });
    await app.start();
    await until(async () => (await queues.peek(`${queue}-dlq`)).length === 1, "the dead letter");
    await app.stop();
    // stop() aborts the route's long poll, but fauxqs keeps it open until its wait time (1 s here)
    // and would hand it a message that arrives meanwhile, invisible for the visibility timeout.
    // Waited out before the replay: the suspected cause of one failure on Node 24, where the
    // replayed message was not on the queue to peek (not reproduced since).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    queues.created.push((await queues.url(`${queue}-dlq`))!);

    const lines = await runCli(["dlq", "--transport", "sqs", "list", queue], ENV);
    expect(lines.code).toBe(0);
    // The rows are the command's result: on stdout, one line each; the count is a note on stderr.
    expect(lines.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(
          `^#1 id=\\S+ queue=${queue} reason=dead-lettered attempts=\\d+ error=".*bad order.*" body=\\{"n":1\\}$`,
        ),
      ),
    ]);
    expect(lines.stderr).toMatch(/1 dead letter\(s\) in /);
    const list = await runCli(["dlq", "--transport", "sqs", "list", queue, "--json"], ENV);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as Array<{
      queue: string;
      reason: string;
      error: string;
      body: string;
    }>;
    expect(rows).toMatchObject([
      { queue, reason: "dead-lettered", attempts: expect.any(Number), body: '{"n":1}' },
    ]);
    expect(rows[0]?.error).toMatch(/bad order/);
    expect(await queues.peek(`${queue}-dlq`)).toEqual([{ n: 1 }]); // list consumed nothing

    const replay = await runCli(["dlq", "--transport", "sqs", "replay", queue], ENV);
    expect(replay.code).toBe(0);
    expect(replay.stderr).toMatch(/replayed 1/);
    expect(await queues.peek(queue)).toEqual([{ n: 1 }]);
    expect(await queues.backlog(`${queue}-dlq`)).toBe(0);

    await queues.publish(`${queue}-dlq`, [{ n: 2 }]);
    const purge = await runCli(["dlq", "--transport", "sqs", "purge", queue], ENV);
    expect(purge.code).toBe(0);
    expect(await queues.backlog(`${queue}-dlq`)).toBe(0);
  }, 60_000);

  it("a dead-letter queue that does not exist is one line with its code and exit 1, not an AWS stack trace", async () => {
    const queue = sqsQueueName("absent");
    const list = await runCli(["dlq", "--transport", "sqs", "list", queue], ENV);
    expect(list.code).toBe(1);
    expect(list.stderr.trim()).toBe(
      `weir: the dead-letter queue ${queue}-dlq does not exist (WEIR_ERR_CLI_NO_QUEUE)`,
    );
  });

  it("--help names the SQS arguments", async () => {
    const help = await runCli(["dlq", "--transport", "sqs", "--help"]);
    expect(help.stdout).toMatch(/--dlq NAME/);
  });
});
