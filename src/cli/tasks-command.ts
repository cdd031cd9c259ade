import { DEFAULT_RESULT_TTL } from "../tasks/options.js";
import { isFinal, type TaskRecord } from "../tasks/record.js";
import { RedisTaskStore } from "../tasks/redis-store.js";
import { parseArgs } from "./args.js";
import { UsageError } from "./errors.js";
import { print, say } from "./output.js";

/**
 * `weir tasks status <id>` and `weir tasks revoke <id>`: read or revoke one run in the task store
 * (Redis), without loading the app: the store is all a run's id needs.
 */
export async function tasksCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["redis-url"], switches: ["json"] });
  const [action, id, ...extra] = args.positionals;
  if ((action !== "status" && action !== "revoke") || id === undefined || id === "" || extra.length > 0) {
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "expected tasks status <id> or tasks revoke <id>");
  }
  const url = args.values.get("redis-url") ?? process.env.WEIR_REDIS_URL ?? "redis://127.0.0.1:6379";
  if (!/^rediss?:\/\//.test(url)) {
    throw new UsageError(
      "WEIR_ERR_CLI_BAD_VALUE",
      `--redis-url must be a redis:// or rediss:// URL, got ${url}`,
    );
  }
  const store = new RedisTaskStore(url, "weir-cli");
  try {
    if (action === "status") {
      const record = await store.get(id);
      if (record === undefined) {
        say(
          `no record of task run ${id}: never submitted with results on, or expired (WEIR_ERR_TASK_UNKNOWN)`,
        );
        return 1;
      }
      print(args.switches.has("json") ? JSON.stringify(record) : describe(record));
      return 0;
    }
    // An id with no record is most likely a typo: say so rather than record a revocation of it.
    if ((await store.get(id)) === undefined) {
      say(`no record of task run ${id}: nothing revoked (WEIR_ERR_TASK_UNKNOWN)`);
      return 1;
    }
    const had = await store.revoke(id, DEFAULT_RESULT_TTL);
    if (had !== undefined && isFinal(had)) {
      say(`task run ${id} is already ${had}: nothing to revoke`);
      return 1;
    }
    say(
      had === "running"
        ? `revoked task run ${id}: its worker aborts its signal and it ends as revoked`
        : `revoked task run ${id}: no worker will run it`,
    );
    return 0;
  } finally {
    await store.close();
  }
}

/** A run's record as lines of `field: value`. */
function describe(record: TaskRecord): string {
  const time = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const rows: Array<[string, unknown]> = [
    ["id", record.id],
    ["task", record.task],
    ["status", record.status],
    ["attempt", record.attempt],
    ["submitted", time(record.submittedAt)],
    ["started", time(record.startedAt)],
    ["finished", time(record.finishedAt)],
    ["result", record.result === undefined ? undefined : JSON.stringify(record.result)],
    [
      "error",
      record.error === undefined
        ? undefined
        : `${record.error.code ?? record.error.name}: ${record.error.message}`,
    ],
    ["previous", record.previous === undefined ? undefined : `${record.previous.task} ${record.previous.id}`],
    ["next", record.next === undefined ? undefined : `${record.next.task} ${record.next.id}`],
  ];
  return rows
    .filter(([, value]) => value !== undefined)
    .map(([field, value]) => `${`${field}:`.padEnd(11)}${String(value)}`)
    .join("\n");
}
