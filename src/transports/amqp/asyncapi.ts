import type { AsyncAPIBuilder, AsyncAPIValue } from "../../core/asyncapi-builder.js";
import { bindingsText } from "./describe.js";
import type { AMQPRoute } from "./route-spec.js";
import { offsetText } from "./stream/options.js";
import type { PublisherSpec } from "./typed-publisher.js";

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
  if (route.stream !== undefined) {
    parts.push(
      `a stream (x-queue-type stream) read by consumer "${route.stream.consumer}" from ${String(offsetText(route.stream.offset))}, resuming after its offset stored in queue "${route.stream.offsetQueue}"; failed bulks are not redelivered`,
    );
  }
  return `${parts.join("; ")}.`;
}

/**
 * The RabbitMQ server (credentials never included), and per queue a channel with the AMQP queue
 * binding and a `receive` operation; a task's queue also gets a `send` operation, and each typed
 * publisher one on the channel of its destination.
 */
export function addAMQPChannels(
  builder: AsyncAPIBuilder,
  brokerUrl: string,
  defaultVhost: string,
  routes: readonly AMQPAsyncAPIRoute[],
  publishers: readonly PublisherSpec[] = [],
): void {
  if (routes.length === 0 && publishers.length === 0) return;
  /** Channel ids by what they stand for (`queue|<vhost>|<name>`, `exchange|<vhost>|<name>|<key>`). */
  const channels = new Map<string, string>();
  const url = new URL(brokerUrl);
  builder.document.servers.amqp = {
    host: url.host,
    protocol: url.protocol === "amqps:" ? "amqps" : "amqp",
    description: "RabbitMQ (AMQP 0-9-1). Credentials are not part of this document.",
  };
  for (const { route, task } of routes) {
    if (route.broadcast !== undefined) {
      const channelId = addBroadcastChannel(builder, route, defaultVhost);
      channels.set(exchangeKey(route.vhost, route.broadcast[0]?.exchange ?? "", ""), channelId);
      continue;
    }
    const declare = route.declare ?? { durable: true, exclusive: false, autoDelete: false };
    for (const queue of route.queues) {
      const channelId = builder.key(route.vhost === defaultVhost ? queue : `${route.vhost}.${queue}`);
      channels.set(queueKey(route.vhost, queue), channelId);
      const messageId = builder.key(`${channelId}.message`);
      builder.message(messageId, queue, route.schema, "application/json", `A message of queue "${queue}".`);
      builder.document.channels[channelId] = {
        address: queue,
        title:
          task !== undefined
            ? `task ${task}`
            : route.stream !== undefined
              ? `stream ${queue}`
              : `queue ${queue}`,
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
        // AsyncAPI 3 Operation Reply: the reply goes where each request's reply-to property says.
        ...(route.reply !== undefined && {
          reply: {
            address: {
              location: "$message.header#/replyTo",
              description:
                "The request's reply-to property (RabbitMQ direct reply-to); the reply carries the request's correlation-id. A failure is sent as { code, name, message } with header x-weir-error.",
            },
          },
        }),
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
  for (const publisher of publishers) addPublisher(builder, publisher, defaultVhost, channels);
}

function queueKey(vhost: string, queue: string): string {
  return `queue|${vhost}|${queue}`;
}

function exchangeKey(vhost: string, exchange: string, routingKey: string): string {
  return `exchange|${vhost}|${exchange}|${routingKey}`;
}

/** What a publisher's operation says beside its destination: its non-default publish settings. */
function publisherDetails(publisher: PublisherSpec): string {
  const { options } = publisher;
  const parts = [
    `Publisher confirms; ${options.mandatory === false ? "not mandatory (an unroutable message is dropped)" : "mandatory (an unroutable message is refused)"}`,
    options.persistent === false ? "transient" : "persistent",
    "a message id and a timestamp on every message",
  ];
  if (options.priority !== undefined) parts.push(`priority ${options.priority}`);
  if (options.expiration !== undefined) parts.push(`expires after ${options.expiration} ms`);
  if (options.headers !== undefined && Object.keys(options.headers).length > 0) {
    parts.push(`headers ${Object.keys(options.headers).join(", ")}`);
  }
  return `${parts.join("; ")}.`;
}

/**
 * A typed publisher's `send` operation, on the channel of its destination: the queue's channel for
 * the default exchange (the one its route has, if the app consumes that queue), else a channel per
 * exchange and routing key (a broadcast route's channel for its exchange without a key), created
 * when no route or earlier publisher made it. Its message carries the publisher's schema.
 */
function addPublisher(
  builder: AsyncAPIBuilder,
  publisher: PublisherSpec,
  defaultVhost: string,
  channels: Map<string, string>,
): void {
  const { exchange, routingKey, vhost, name } = publisher;
  const prefix = vhost === defaultVhost ? "" : `${vhost}.`;
  const toQueue = exchange === "" && routingKey !== "";
  const key = toQueue ? queueKey(vhost, routingKey) : exchangeKey(vhost, exchange, routingKey);
  let channelId = channels.get(key);
  if (channelId === undefined && !toQueue && routingKey === "") {
    channelId = channels.get(exchangeKey(vhost, exchange, ""));
  }
  if (channelId === undefined) {
    channelId = builder.key(
      toQueue
        ? `${prefix}${routingKey}`
        : `${prefix}${exchange || "default"}${routingKey ? `.${routingKey}` : ""}`,
    );
    channels.set(key, channelId);
    builder.document.channels[channelId] = toQueue
      ? {
          address: routingKey,
          title: `queue ${routingKey}`,
          servers: [{ $ref: "#/servers/amqp" }],
          messages: {},
          bindings: {
            amqp: { is: "queue", queue: { name: routingKey, vhost }, bindingVersion: AMQP_BINDING_VERSION },
          },
        }
      : {
          address: routingKey === "" ? (exchange === "" ? null : exchange) : routingKey,
          title:
            routingKey === ""
              ? `exchange ${exchange || "(default)"}`
              : `exchange ${exchange || "(default)"}, routing key ${routingKey}`,
          servers: [{ $ref: "#/servers/amqp" }],
          messages: {},
          bindings: {
            amqp: {
              is: "routingKey",
              exchange: exchange === "" ? { name: "", type: "default", vhost } : { name: exchange, vhost },
              bindingVersion: AMQP_BINDING_VERSION,
            },
          },
        };
  }
  const messageId = builder.key(`${channelId}.${name}.message`);
  builder.message(
    messageId,
    name,
    publisher.schema,
    publisher.options.contentType ?? "application/json",
    `A message of publisher "${name}".`,
  );
  const channel = builder.document.channels[channelId] as { messages: Record<string, AsyncAPIValue> };
  channel.messages[messageId] = { $ref: `#/components/messages/${messageId}` };
  const { options } = publisher;
  builder.document.operations[builder.key(`send.${name}`)] = {
    action: "send",
    channel: { $ref: `#/channels/${channelId}` },
    messages: [{ $ref: `#/channels/${channelId}/messages/${messageId}` }],
    summary: `Publisher "${name}": publishes to ${
      exchange === "" ? `queue ${routingKey || "(the routing key of each publish)"}` : `exchange ${exchange}`
    }${exchange !== "" && routingKey !== "" ? ` with routing key ${routingKey}` : ""}.`,
    description: publisherDetails(publisher),
    bindings: {
      amqp: {
        ...(routingKey !== "" && { cc: [routingKey] }),
        deliveryMode: options.persistent === false ? 1 : 2,
        mandatory: options.mandatory ?? true,
        timestamp: true,
        ...(options.priority !== undefined && { priority: options.priority }),
        ...(options.expiration !== undefined && { expiration: options.expiration }),
        bindingVersion: AMQP_BINDING_VERSION,
      },
    },
  };
}

/**
 * A broadcast route's channel is its exchange (the AMQP binding's `is: "routingKey"`): its queue is
 * server-named per instance, so the document names the exchange and says every instance receives.
 */
function addBroadcastChannel(builder: AsyncAPIBuilder, route: AMQPRoute, defaultVhost: string): string {
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
  return channelId;
}
