import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import type { AMQPRoute } from "./route-spec.js";

/** The `amqp` channel and operation bindings' version (github.com/asyncapi/bindings/amqp). */
const AMQP_BINDING_VERSION = "0.3.0";

/** A route of the document: its normalized definition and, for a task's route, the task's name. */
export interface AMQPAsyncAPIRoute {
  readonly route: AMQPRoute;
  readonly task: string | undefined;
}

function details(route: AMQPRoute, task: string | undefined): string {
  const parts = [
    task !== undefined ? `Task "${task}": enqueue with \`${task}.delay(payload)\`.` : undefined,
    `Bulks of up to ${route.bulkSize} message(s)`,
    `flushed after ${route.flushInterval} ms`,
    `concurrency ${route.concurrency}`,
    `prefetch ${route.prefetch}`,
  ].filter((part): part is string => part !== undefined);
  if (route.retry !== undefined) {
    parts.push(`retried on the broker up to ${route.retry.maxAttempts} attempts in all`);
  }
  if (route.deadLetter !== undefined) parts.push("failures go to the dead-letter queue");
  if (route.once !== undefined) parts.push("duplicates are acked unprocessed (`once`)");
  return `${parts.join("; ")}.`;
}

/**
 * The RabbitMQ server (credentials never included), and per queue a channel with the AMQP queue
 * binding and a `receive` operation; a task's queue also gets a `send` operation.
 */
export function addAMQPChannels(
  builder: AsyncAPIBuilder,
  brokerUrl: string,
  defaultVhost: string,
  routes: readonly AMQPAsyncAPIRoute[],
): void {
  if (routes.length === 0) return;
  const url = new URL(brokerUrl);
  builder.document.servers.amqp = {
    host: url.host,
    protocol: url.protocol === "amqps:" ? "amqps" : "amqp",
    description: "RabbitMQ (AMQP 0-9-1). Credentials are not part of this document.",
  };
  for (const { route, task } of routes) {
    const declare = route.declare ?? { durable: true, exclusive: false, autoDelete: false };
    for (const queue of route.queues) {
      const channelId = builder.key(route.vhost === defaultVhost ? queue : `${route.vhost}.${queue}`);
      const messageId = builder.key(`${channelId}.message`);
      builder.message(messageId, queue, route.schema, "application/json", `A message of queue "${queue}".`);
      builder.document.channels[channelId] = {
        address: queue,
        title: task !== undefined ? `task ${task}` : `queue ${queue}`,
        servers: [{ $ref: "#/servers/amqp" }],
        messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
        bindings: {
          amqp: {
            is: "queue",
            queue: {
              name: queue,
              durable: declare.durable,
              exclusive: declare.exclusive,
              autoDelete: declare.autoDelete,
              vhost: route.vhost,
            },
            bindingVersion: AMQP_BINDING_VERSION,
          },
        },
      };
      const channel = { $ref: `#/channels/${channelId}` };
      const messages = [{ $ref: `#/channels/${channelId}/messages/${messageId}` }];
      builder.document.operations[builder.key(`receive.${channelId}`)] = {
        action: "receive",
        channel,
        messages,
        summary: task !== undefined ? `Runs task ${task}.` : `Consumes queue ${queue}.`,
        description: details(route, task),
        bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING_VERSION } },
      };
      if (task !== undefined) {
        builder.document.operations[builder.key(`send.${channelId}`)] = {
          action: "send",
          channel,
          messages,
          summary: `Enqueues task ${task} (publisher confirms).`,
          bindings: { amqp: { deliveryMode: 2, bindingVersion: AMQP_BINDING_VERSION } },
        };
      }
    }
  }
}
