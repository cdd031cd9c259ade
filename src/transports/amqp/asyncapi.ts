import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { bindingsText } from "./describe.js";
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
  if (route.bindings.length > 0) parts.push(`bound to ${bindingsText(route.bindings, route.queues.length)}`);
  if (route.consumer.singleActiveConsumer) parts.push("single active consumer");
  if (route.consumer.exclusive) parts.push("exclusive consumer");
  if (route.consumer.priority !== undefined) parts.push(`consumer priority ${route.consumer.priority}`);
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
    if (route.broadcast !== undefined) {
      addBroadcastChannel(builder, route, defaultVhost);
      continue;
    }
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

/**
 * A broadcast route's channel is its exchange (the AMQP binding's `is: "routingKey"`): its queue is
 * server-named per instance, so the document names the exchange and says every instance receives.
 */
function addBroadcastChannel(builder: AsyncAPIBuilder, route: AMQPRoute, defaultVhost: string): void {
  const exchange = route.broadcast?.[0]?.exchange ?? "";
  const declared = route.exchanges.find((candidate) => candidate.name === exchange);
  const channelId = builder.key(route.vhost === defaultVhost ? exchange : `${route.vhost}.${exchange}`);
  const messageId = builder.key(`${channelId}.message`);
  builder.message(
    messageId,
    route.name,
    route.schema,
    "application/json",
    `A message of exchange "${exchange}".`,
  );
  builder.document.channels[channelId] = {
    address: exchange,
    title: `broadcast ${route.name}`,
    description: `Every running instance receives every message: each binds a server-named, exclusive, auto-delete queue to exchange "${exchange}" (${bindingsText(route.broadcast ?? [], 1)}).`,
    servers: [{ $ref: "#/servers/amqp" }],
    messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
    bindings: {
      amqp: {
        is: "routingKey",
        exchange: {
          name: exchange,
          ...(declared !== undefined && {
            type: declared.type,
            durable: declared.durable,
            autoDelete: declared.autoDelete,
          }),
          vhost: route.vhost,
        },
        bindingVersion: AMQP_BINDING_VERSION,
      },
    },
  };
  builder.document.operations[builder.key(`receive.${channelId}`)] = {
    action: "receive",
    channel: { $ref: `#/channels/${channelId}` },
    messages: [{ $ref: `#/channels/${channelId}/messages/${messageId}` }],
    summary: `Receives every message of exchange ${exchange} on each instance (broadcast).`,
    description: details(route, undefined),
    bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING_VERSION } },
  };
}
