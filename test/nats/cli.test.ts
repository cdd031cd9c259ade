import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../cli/helpers.js";
import { NATS_URL, NATSAdmin, uniqueStream } from "../helpers/nats.js";

/** `weir publish --transport nats` and `weir dlq --transport nats`, as a user runs them. */
describe("weir publish / dlq --transport nats", () => {
  let admin: NATSAdmin;
  beforeEach(async () => {
    admin = await NATSAdmin.connect();
  });
  afterEach(async () => {
    await admin.close();
  });

  it("publish: exit 0 once the stream stored it, headers included; exit 1 with WEIR_ERR_NATS_NO_STREAM when none captures the subject", async () => {
    const stream = await admin.stream(uniqueStream("cli"));
    const ok = await runCli([
      "publish",
      "--transport",
      "nats",
      `${stream}.orders`,
      '{"id":1}',
      "--header",
      "tenant=t1",
      "--server",
      NATS_URL,
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stderr + ok.stdout).toContain(`stored in stream ${stream} as #1`);
    const [stored] = await admin.messages(stream);
    expect(stored).toMatchObject({ body: { id: 1 }, subject: `${stream}.orders`, headers: { tenant: "t1" } });

    const missing = await runCli(["publish", "--transport=nats", `${uniqueStream("none")}.x`, "{}"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("WEIR_ERR_NATS_NO_STREAM");
  });

  it("publish --message-id sends Nats-Msg-Id (a repeat is stored once); --msg-id is its alias; both is a usage error", async () => {
    const stream = await admin.stream(uniqueStream("climsgid"));
    const publish = (...flags: string[]) =>
      runCli([
        "publish",
        "--transport",
        "nats",
        `${stream}.orders`,
        '{"id":1}',
        "--server",
        NATS_URL,
        ...flags,
      ]);
    const first = await publish("--message-id", "order-1");
    expect(first.code).toBe(0);
    expect(first.stderr + first.stdout).toContain(`stored in stream ${stream} as #1`);
    const again = await publish("--message-id=order-1");
    expect(again.code).toBe(0);
    expect(again.stderr + again.stdout).toContain("(a duplicate message-id: dropped)");
    const alias = await publish("--msg-id", "order-1");
    expect(alias.code).toBe(0);
    expect(alias.stderr + alias.stdout).toContain("(a duplicate message-id: dropped)");
    expect(await admin.count(stream)).toBe(1);

    const both = await publish("--message-id", "order-2", "--msg-id", "order-2");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("WEIR_ERR_CLI_ARGUMENT");
    expect(await admin.count(stream)).toBe(1);

    const help = await runCli(["publish", "--transport", "nats", "--help"]);
    expect(help.stdout).toContain("--message-id ID");
  });

  it("--url is another name of --server (the flag AMQP and Redis use), for publish and dlq; both given is a usage error", async () => {
    const stream = await admin.stream(uniqueStream("cliurl"));
    // WEIR_NATS_URL names a dead server: only --url can reach the real one.
    const dead = { WEIR_NATS_URL: "127.0.0.1:1" };
    const published = await runCli(
      [
        "publish",
        "--transport",
        "nats",
        `${stream}.orders`,
        '{"id":1}',
        "--url",
        NATS_URL,
        "--timeout",
        "5000",
      ],
      dead,
    );
    expect(published.code).toBe(0);
    expect(await admin.count(stream)).toBe(1);
    const list = await runCli(
      ["dlq", "--transport", "nats", "list", stream, `--url=${NATS_URL}`, "--json"],
      dead,
    );
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);

    const both = await runCli([
      "publish",
      "--transport",
      "nats",
      `${stream}.orders`,
      '{"id":2}',
      "--url",
      NATS_URL,
      "--server",
      NATS_URL,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("WEIR_ERR_CLI_ARGUMENT");
    expect(await admin.count(stream)).toBe(1);
    const help = await runCli(["dlq", "--transport", "nats", "--help"]);
    expect(help.stdout).toContain("--url S");
  });

  it("dlq: list shows the dead letters with their reason, replay publishes them back to their subjects, purge deletes them", async () => {
    const stream = await admin.stream(uniqueStream("clidlq"));
    const dlq = await admin.stream(`${stream}-dlq`, [`weir.dlq.${stream}`]);
    const letter = (n: number) => ({
      "x-weir-reason": "max-attempts",
      "x-weir-error": "always fails",
      "x-weir-error-code": "WEIR_ERR_TEST",
      "x-weir-original-stream": stream,
      "x-weir-original-subject": `${stream}.orders.${n}`,
      "x-weir-attempts": "3",
    });
    await admin.publish(`weir.dlq.${stream}`, [{ n: 1 }], letter(1));
    await admin.publish(`weir.dlq.${stream}`, [{ n: 2 }], letter(2));

    const list = await runCli(["dlq", "--transport", "nats", "list", stream, "--json"]);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as {
      body: unknown;
      subject: string;
      reason: string;
      error: string;
      attempts: number;
    }[];
    expect(listed.map((l) => [l.body, l.subject, l.reason, l.error, l.attempts])).toEqual([
      [{ n: 1 }, `${stream}.orders.1`, "max-attempts", "always fails", 3],
      [{ n: 2 }, `${stream}.orders.2`, "max-attempts", "always fails", 3],
    ]);
    const text = await runCli(["dlq", "--transport", "nats", "list", stream]);
    expect(text.stdout).toContain('reason=max-attempts code=WEIR_ERR_TEST error="always fails"');

    const replay = await runCli(["dlq", "--transport", "nats", "replay", stream, "--grep", '"n":1']);
    expect(replay.code).toBe(0);
    expect(replay.stderr + replay.stdout).toContain("replayed 1 dead letter(s)");
    const back = await admin.messages(stream);
    expect(back.map((m) => [m.body, m.subject])).toEqual([[{ n: 1 }, `${stream}.orders.1`]]);
    expect(Object.keys(back[0]?.headers ?? {}).filter((k) => k.startsWith("x-weir-"))).toEqual([]);
    expect((await admin.messages(dlq)).map((m) => m.body)).toEqual([{ n: 2 }]);

    const purge = await runCli(["dlq", "--transport", "nats", "purge", stream]);
    expect(purge.code).toBe(0);
    expect(purge.stderr + purge.stdout).toContain("purged 1 dead letter(s)");
    expect(await admin.messages(dlq)).toEqual([]);
  });

  it("an unreachable server: exit 1 naming it, WEIR_ERR_CLI_CONNECTION, no password printed", async () => {
    const result = await runCli([
      "publish",
      "--transport",
      "nats",
      "x",
      "{}",
      "--server",
      "nats://u:hunter2@127.0.0.1:1",
      "--timeout",
      "1000",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("WEIR_ERR_CLI_CONNECTION");
    expect(result.stderr).not.toContain("hunter2");
  });
});
