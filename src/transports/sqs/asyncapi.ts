import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import type { RouteRecord } from "../../core/transport.js";
import { isFifo, queueNameOf } from "./port.js";
import type { SQSRoute, SQSRouteSpec } from "./route-spec.js";

/**
 * One `sqs` server, a channel per queue with AsyncAPI's `sqs` channel binding (0.2.0: the queue,
 * FIFO or not, its dead-letter queue when weir keeps one) and a `receive` operation.
 */
export function addSQSChannels(
  builder: AsyncAPIBuilder,
  records: readonly RouteRecord[],
  routeOf: (record: RouteRecord) => SQSRoute,
  endpoint: string | undefined,
  region: string | undefined,
): void {
  const serverId = builder.key("sqs");
  builder.document.servers[serverId] = {
    host: endpoint === undefined ? `sqs.${region ?? "<region>"}.amazonaws.com` : new URL(endpoint).host,
    protocol: "sqs",
    description: "Amazon SQS (long polling; ack = DeleteMessage, retry = ChangeMessageVisibility).",
  };
  for (const record of records) {
    const route = routeOf(record);
    for (const queue of record.routes) {
      const name = queueNameOf(queue);
      const channelId = builder.key(`sqs.${name}`);
      const messageId = builder.key(`${channelId}.message`);
      builder.message(
        messageId,
        name,
        (record.spec as SQSRouteSpec).schema,
        "application/json",
        `A message of ${name}.`,
      );
      const dlq = route.deadLetter?.(queue);
      builder.document.channels[channelId] = {
        address: name,
        title: `SQS queue ${name}`,
        servers: [{ $ref: `#/servers/${serverId}` }],
        messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
        bindings: {
          sqs: {
            queue: {
              name,
              fifoQueue: isFifo(name),
              ...(route.visibilitySeconds === undefined
                ? {}
                : { visibilityTimeout: route.visibilitySeconds }),
              receiveMessageWaitTime: route.waitSeconds,
            },
            ...(dlq === undefined
              ? {}
              : { deadLetterQueue: { name: queueNameOf(dlq), fifoQueue: isFifo(dlq) } }),
            bindingVersion: "0.2.0",
          },
        },
      };
      builder.document.operations[builder.key(`receive.${channelId}`)] = {
        action: "receive",
        channel: { $ref: `#/channels/${channelId}` },
        messages: [{ $ref: `#/channels/${channelId}/messages/${messageId}` }],
        summary: `Receives from ${name} in bulks of up to ${route.bulkSize} message(s).`,
      };
    }
  }
}
