import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import { redactUrl } from "../../core/logger.js";
import { DLQ_SUFFIX, RETRY_SUFFIX, type RedisRoute } from "./route-spec.js";

/**
 * A server for the app's Redis, and a channel (the stream) with a `receive` operation per stream of
 * each route. AsyncAPI's `redis` bindings are reserved but define no field yet, so the consumer
 * group, the retry key and the dead-letter stream are said in the operation's description and in an
 * `x-weir-redis` extension.
 */
export function addRedisChannels(builder: AsyncAPIBuilder, routes: readonly RedisRoute[], url: string): void {
  const server = builder.key("redis");
  const parsed = new URL(redactUrl(url));
  builder.document.servers[server] = {
    host: `${parsed.hostname}:${parsed.port || "6379"}`,
    protocol: parsed.protocol === "rediss:" ? "rediss" : "redis",
    description: "Redis Streams, read through consumer groups (XREADGROUP / XACK).",
  };
  for (const route of routes) {
    for (const stream of route.streams) {
      const channel = builder.key(`redis.${stream}`);
      const message = builder.key(`${channel}.message`);
      builder.message(message, stream, route.schema, "application/json", `An entry of the stream ${stream}.`);
      builder.document.channels[channel] = {
        address: stream,
        title: `Redis stream ${stream}`,
        servers: [{ $ref: `#/servers/${server}` }],
        messages: { [message]: { $ref: `#/components/messages/${message}` } },
      };
      const extras = [
        route.retry === undefined ? undefined : `retries wait in the sorted set ${stream}${RETRY_SUFFIX}`,
        route.deadLetter ? `dead letters go to the stream ${stream}${DLQ_SUFFIX}` : undefined,
      ].filter((line): line is string => line !== undefined);
      builder.document.operations[builder.key(`receive.${channel}`)] = {
        action: "receive",
        channel: { $ref: `#/channels/${channel}` },
        messages: [{ $ref: `#/channels/${channel}/messages/${message}` }],
        summary: `Reads the stream ${stream} as consumer group ${route.group}, in bulks of up to ${route.bulkSize}.`,
        description:
          `The entry's JSON body is its field \`body\`; its other fields are headers. AsyncAPI has no Redis ` +
          `binding fields yet.${extras.length > 0 ? ` On failure ${extras.join("; ")}.` : ""}`,
        "x-weir-redis": {
          group: route.group,
          prefetch: route.prefetch,
          claimIdle: route.claimIdle,
          ...(route.retry !== undefined && { retryKey: `${stream}${RETRY_SUFFIX}` }),
          ...(route.deadLetter && { deadLetterStream: `${stream}${DLQ_SUFFIX}` }),
        },
      };
    }
  }
}
