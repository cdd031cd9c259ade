import {
  aliasFlag,
  dlqArguments,
  headerFlags,
  integerFlag,
  jsonArgument,
  type ParsedArgs,
  parseArgs,
} from "../../../cli/args.js";
import { loadEnvFile } from "../../../cli/env-file.js";
import { CLIError, UsageError } from "../../../cli/errors.js";
import { print, say } from "../../../cli/output.js";
import { awsPort } from "../aws-port.js";
import { publishTo } from "../client.js";
import { SQS_ATTRIBUTES } from "../message.js";
import { defaultDeadLetterQueue } from "../names.js";
import { resolveSQSOptions } from "../options.js";
import { isFifo, isQueueMissing, type SQSPort, type SQSReceived } from "../port.js";

function portOf(args: ParsedArgs): Promise<SQSPort> {
  loadEnvFile(args.values.get("env-file"));
  const endpoint = aliasFlag(args, "endpoint", "url") ?? process.env.WEIR_SQS_ENDPOINT;
  const region = args.values.get("region");
  return awsPort(
    resolveSQSOptions({
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(region === undefined ? {} : { region }),
    }),
  );
}

/** `weir publish --transport sqs <queue> <json>`. */
export async function publishCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["endpoint", "url", "region", "group", "dedup", "env-file"],
    repeated: ["header"],
  });
  if (args.positionals.length !== 2)
    throw new UsageError("WEIR_ERR_CLI_ARGUMENT", "expected publish <queue> <json>");
  const [queue, text] = args.positionals as [string, string];
  const body = jsonArgument(text);
  const headers = headerFlags(args);
  const port = await portOf(args);
  try {
    const group = args.values.get("group");
    const dedup = args.values.get("dedup");
    const id = await publishTo(async () => port, body, {
      queue,
      headers,
      ...(group === undefined ? {} : { messageGroupId: group }),
      ...(dedup === undefined ? {} : { deduplicationId: dedup }),
    });
    say(`published to SQS queue ${queue} (MessageId ${id})`);
    return 0;
  } finally {
    port.close();
  }
}

/** Receives up to `limit` messages of `url`, hidden for 30 s, each once. */
async function receiveAll(port: SQSPort, url: string, limit: number): Promise<SQSReceived[]> {
  const seen = new Map<string, SQSReceived>();
  for (let round = 0; round < Math.ceil(limit / 10) + 2 && seen.size < limit; round++) {
    const batch = await port.receive(url, {
      max: Math.min(10, limit - seen.size),
      waitSeconds: 0,
      visibilitySeconds: 30,
    });
    if (batch.length === 0) break;
    for (const message of batch) if (!seen.has(message.id)) seen.set(message.id, message);
  }
  return [...seen.values()];
}

/** `weir dlq --transport sqs list|replay|purge <queue>`. */
export async function dlqCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["endpoint", "url", "region", "dlq", "limit", "env-file"],
    switches: ["json"],
  });
  const { action, source: queue } = dlqArguments(args, "queue");
  const limit = integerFlag(args, "limit", 100);
  const dlqName = args.values.get("dlq") ?? defaultDeadLetterQueue(queue);
  const port = await portOf(args);
  try {
    const dlq = await port.queueUrl(dlqName).catch((error: unknown) => {
      if (!isQueueMissing(error)) throw error;
      throw new CLIError("WEIR_ERR_CLI_NO_QUEUE", `the dead-letter queue ${dlqName} does not exist`, {
        cause: error,
      });
    });
    if (action === "purge") {
      await port.purge(dlq);
      say(`purged ${dlqName}`);
      return 0;
    }
    const letters = await receiveAll(port, dlq, limit);
    if (action === "list") {
      // Nothing consumed: visible again at once.
      await port.changeVisibility(
        dlq,
        letters.map((m) => ({ receipt: m.receipt, seconds: 0 })),
      );
      // The same columns as the other transports' lists: the category, the attempts, the text.
      const rows = letters.map((m) => ({
        id: m.id,
        queue: m.attributes[SQS_ATTRIBUTES.originalQueue] ?? queue,
        reason: m.attributes[SQS_ATTRIBUTES.reason] ?? null,
        attempts:
          m.attributes[SQS_ATTRIBUTES.attempts] === undefined
            ? null
            : Number(m.attributes[SQS_ATTRIBUTES.attempts]),
        error: m.attributes[SQS_ATTRIBUTES.error] ?? null,
        body: m.body,
      }));
      if (args.switches.has("json")) print(`${JSON.stringify(rows, null, 2)}\n`);
      else {
        // The rows are the result (stdout, pipeable, one line each, as for the other transports).
        for (const [index, row] of rows.entries())
          print(
            `#${index + 1} id=${row.id} queue=${row.queue} reason=${row.reason ?? "-"} attempts=${row.attempts ?? "-"}` +
              `${row.error ? ` error=${JSON.stringify(row.error)}` : ""} body=${row.body}`,
          );
        say(`${rows.length} dead letter(s) in ${dlqName}`);
      }
      return 0;
    }
    let replayed = 0;
    for (const m of letters) {
      const target = m.attributes[SQS_ATTRIBUTES.originalQueue] ?? queue;
      const { [SQS_ATTRIBUTES.error]: _e, [SQS_ATTRIBUTES.originalQueue]: _q, ...attributes } = m.attributes;
      await port.send(await port.queueUrl(target), m.body, {
        attributes,
        ...(isFifo(target) ? { groupId: m.groupId ?? "weir-replay", deduplicationId: `replay-${m.id}` } : {}),
      });
      await port.delete(dlq, [m.receipt]);
      replayed++;
    }
    say(`replayed ${replayed} dead letter(s) from ${dlqName}`);
    return 0;
  } finally {
    port.close();
  }
}
