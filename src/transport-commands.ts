import { perTransport, type TransportCommand } from "./cli/transport-command.js";
import { DLQ_HELP, PUBLISH_HELP } from "./transports/amqp/cli/help.js";
import { NATS_DLQ_HELP, NATS_PUBLISH_HELP } from "./transports/nats/cli/help.js";
import { REDIS_DLQ_HELP, REDIS_PUBLISH_HELP } from "./transports/redis/cli/help.js";
import { SQS_DLQ_HELP, SQS_PUBLISH_HELP } from "./transports/sqs/cli/help.js";

/**
 * The commands transports add to `weir`, by name: the CLI's side of the composition root (src/app.ts
 * is the App's). A command several transports offer (`publish`, `dlq`) has one variant per
 * transport, picked with `--transport T` (default `amqp`). Each variant's code is imported when it
 * runs; only its help text is loaded here.
 */

/** `weir publish --transport T`: one variant per transport that can publish. */
const PUBLISH: Record<string, TransportCommand> = {
  amqp: {
    synopsis: "publish <queue> <json>",
    summary: "publish one message to RabbitMQ and wait for the broker's confirm",
    help: PUBLISH_HELP,
    run: async (argv) => (await import("./transports/amqp/cli/commands.js")).publishCommand(argv),
  },
  redis: {
    synopsis: "publish --transport redis <stream> <json>",
    summary: "add one entry to a Redis stream",
    help: REDIS_PUBLISH_HELP,
    run: async (argv) => (await import("./transports/redis/cli/commands.js")).publishCommand(argv),
  },
  nats: {
    synopsis: "publish --transport nats <subject> <json>",
    summary: "publish one message to NATS JetStream and wait for the stream's ack",
    help: NATS_PUBLISH_HELP,
    run: async (argv) => (await import("./transports/nats/cli/commands.js")).publishCommand(argv),
  },
  sqs: {
    synopsis: "publish --transport sqs <queue> <json>",
    summary: "send one message to an SQS queue",
    help: SQS_PUBLISH_HELP,
    run: async (argv) => (await import("./transports/sqs/cli/commands.js")).publishCommand(argv),
  },
};

/** `weir dlq --transport T`: one variant per transport that keeps dead letters. */
const DLQ: Record<string, TransportCommand> = {
  amqp: {
    synopsis: "dlq list|replay|purge <queue>",
    summary: "show, move back or delete the dead letters of <queue>",
    help: DLQ_HELP,
    run: async (argv) => (await import("./transports/amqp/cli/commands.js")).dlqCommand(argv),
  },
  redis: {
    synopsis: "dlq --transport redis list|replay|purge <stream>",
    summary: "show, move back or delete the dead letters of a Redis stream (<stream>.dlq)",
    help: REDIS_DLQ_HELP,
    run: async (argv) => (await import("./transports/redis/cli/commands.js")).dlqCommand(argv),
  },
  nats: {
    synopsis: "dlq --transport nats list|replay|purge <stream>",
    summary: "show, move back or delete the dead letters of a JetStream stream",
    help: NATS_DLQ_HELP,
    run: async (argv) => (await import("./transports/nats/cli/commands.js")).dlqCommand(argv),
  },
  sqs: {
    synopsis: "dlq --transport sqs list|replay|purge <queue>",
    summary: "show, move back or delete the dead letters of an SQS queue",
    help: SQS_DLQ_HELP,
    run: async (argv) => (await import("./transports/sqs/cli/commands.js")).dlqCommand(argv),
  },
};

export const TRANSPORT_COMMANDS: Readonly<Record<string, TransportCommand>> = {
  publish: perTransport("publish", PUBLISH, "amqp"),
  dlq: perTransport("dlq", DLQ, "amqp"),
};
