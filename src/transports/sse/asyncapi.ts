import type { AsyncAPIBuilder, AsyncAPIValue } from "../../core/asyncapi-builder.js";
import type { RouteRecord, TransportHealth } from "../../core/transport.js";
import type { SSERouteSpec } from "./route-spec.js";

type JSONObject = { [key: string]: AsyncAPIValue };

/**
 * A server per distinct SSE source, and a channel with a `receive` operation per stream, read from
 * the transport's health (where each stream's URL is resolved, credentials already removed).
 */
export function addSSEChannels(
  builder: AsyncAPIBuilder,
  records: readonly RouteRecord[],
  health: TransportHealth,
): void {
  const servers = new Map<string, string>();
  for (const [index, record] of records.entries()) {
    const spec = record.spec as SSERouteSpec;
    const streams = (health.routes[index]?.streams ?? []) as Array<{ path?: unknown; url?: unknown }>;
    for (const stream of streams) {
      if (typeof stream.url !== "string" || typeof stream.path !== "string") continue;
      const url = new URL(stream.url);
      const pathOnly = stream.path.split("?")[0] ?? "";
      const basePath = url.pathname.endsWith(pathOnly)
        ? url.pathname.slice(0, url.pathname.length - pathOnly.length)
        : "";
      const serverKey = `${url.protocol}//${url.host}${basePath}`;
      let serverId = servers.get(serverKey);
      if (serverId === undefined) {
        serverId = builder.key(`sse${servers.size === 0 ? "" : servers.size + 1}`);
        servers.set(serverKey, serverId);
        builder.document.servers[serverId] = {
          host: url.host,
          protocol: url.protocol === "https:" ? "https" : "http",
          ...(basePath !== "" && basePath !== "/" && { pathname: basePath }),
          description: "A Server-Sent Events source (text/event-stream) the app reads.",
        };
      }
      const channelId = builder.key(`sse.${stream.path}`);
      const messageId = builder.key(`${channelId}.event`);
      builder.message(messageId, stream.path, undefined, undefined, `An event of the stream ${stream.path}.`);
      const message = builder.document.components.messages[messageId] as JSONObject;
      message.description =
        "The event's data: JSON-decoded when it parses, else the text. Its `event:` field is the name, `id:` the id.";
      builder.document.channels[channelId] = {
        address: stream.path,
        title: `SSE stream ${stream.path}`,
        servers: [{ $ref: `#/servers/${serverId}` }],
        messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
      };
      const bulk = spec.options?.bulkSize ?? 1;
      builder.document.operations[builder.key(`receive.${channelId}`)] = {
        action: "receive",
        channel: { $ref: `#/channels/${channelId}` },
        messages: [{ $ref: `#/channels/${channelId}/messages/${messageId}` }],
        summary: `Reads the stream ${stream.path}, in bulks of up to ${bulk} event(s).`,
      };
    }
  }
}
