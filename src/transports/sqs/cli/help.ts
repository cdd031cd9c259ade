/** `weir publish --transport sqs --help` and `weir dlq --transport sqs --help`: plain text. */

const WHERE = `SQS is --endpoint (or --url, its other name; else WEIR_SQS_ENDPOINT, else AWS's) in --region (else AWS_REGION);
credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, shared files, a role).`;

export const SQS_PUBLISH_HELP = `Usage: weir publish --transport sqs <queue> <json> [options]

Sends <json> to the SQS queue <queue> (a name or a URL) and exits 0 once SQS has it.

Options:
  --group G              MessageGroupId (required for a FIFO queue)
  --dedup D              MessageDeduplicationId (FIFO; default: a random one)
  --header name=value    a string message attribute (repeatable)
  --endpoint URL         the SQS endpoint (an emulator, a VPC endpoint)
  --url URL              the same as --endpoint (the name the other transports use)
  --region R             the AWS region
  --env-file FILE        load environment variables first

${WHERE}
`;

export const SQS_DLQ_HELP = `Usage: weir dlq --transport sqs list|replay|purge <queue> [options]

  list <queue>       show the dead letters in weir's dead-letter queue of <queue> (<queue>-dlq);
                     they are received and made visible again at once, nothing is deleted
  replay <queue>     send them back to their original queue (x-weir-original-queue, else <queue>)
                     and delete them from the dead-letter queue
  purge <queue>      delete every message of the dead-letter queue (PurgeQueue)

Options:
  --dlq NAME         the dead-letter queue (default <queue>-dlq; <name>-dlq.fifo for a FIFO queue)
  --limit N          list / replay at most N (default 100)
  --json             list: as JSON
  --endpoint URL     the SQS endpoint
  --url URL          the same as --endpoint
  --region R         the AWS region
  --env-file FILE    load environment variables first

${WHERE}
`;
