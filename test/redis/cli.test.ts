import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../cli/helpers.js";
import { RedisHelper, uniqueStream } from "../helpers/redis.js";

describe("weir publish / dlq --transport redis", () => {
  let redis: RedisHelper | undefined;
  afterEach(async () => {
    await redis?.close();
  });

  it("publish adds the entry (body, headers, trimming) and prints its id", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("cli"));
    const result = await runCli([
      "publish",
      "--transport",
      "redis",
      stream,
      '{"n":1}',
      "--header",
      "source=cli",
      "--maxlen",
      "1000",
    ]);
    expect(result.code).toBe(0);
    const entries = (await redis.client.xrange(stream, "-", "+")) as [string, string[]][];
    expect(entries).toHaveLength(1);
    expect(result.stdout.trim()).toBe(entries[0]?.[0]);
    expect(entries[0]?.[1]).toEqual(["source", "cli", "body", '{"n":1}']);
  });

  it("dlq list, replay and purge work on <stream>.dlq", async () => {
    redis = new RedisHelper();
    const stream = redis.track(uniqueStream("cli-dlq"));
    const dlq = `${stream}.dlq`;
    for (const n of [1, 2, 3]) {
      await redis.client.xadd(
        dlq,
        "*",
        "body",
        JSON.stringify({ n }),
        "x-weir-reason",
        "max-attempts",
        "x-weir-attempts",
        "3",
      );
    }
    const list = await runCli(["dlq", "--transport", "redis", "list", stream]);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split("\n")).toHaveLength(3);
    expect(list.stdout).toContain('reason=max-attempts attempts=3 body={"n":1}');
    const json = await runCli(["dlq", "--transport", "redis", "list", stream, "--json", "--limit", "1"]);
    expect((JSON.parse(json.stdout) as { body: unknown }[]).map((l) => l.body)).toEqual([{ n: 1 }]);

    const replay = await runCli(["dlq", "--transport", "redis", "replay", stream, "--grep", '"n":2']);
    expect(replay.code).toBe(0);
    expect(replay.stderr).toContain("replayed 1 dead letter(s)");
    const back = (await redis.client.xrange(stream, "-", "+")) as [string, string[]][];
    expect(back.map(([, fields]) => fields)).toEqual([["body", '{"n":2}', "x-weir-replays", "1"]]);
    expect(await redis.client.xlen(dlq)).toBe(2);

    const purge = await runCli(["dlq", "--transport", "redis", "purge", stream]);
    expect(purge.code).toBe(0);
    expect(purge.stderr).toContain("purged 2 dead letter(s)");
    expect(await redis.client.exists(dlq)).toBe(0);
  });

  it("an unreachable Redis fails fast with WEIR_ERR_CLI_CONNECTION, the password redacted", async () => {
    const result = await runCli([
      "publish",
      "--transport",
      "redis",
      "s",
      "{}",
      "--url",
      "redis://user:secret@127.0.0.1:1",
      "--timeout",
      "2000",
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("WEIR_ERR_CLI_CONNECTION");
    expect(result.stderr).not.toContain("secret");
  });
});
