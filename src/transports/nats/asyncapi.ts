import type { AsyncAPIBuilder } from "../../core/asyncapi-builder.js";
import type { RouteRecord } from "../../core/transport.js";
import { declaredSubjectsOf, type NATSRoute, type NATSRouteSpec } from "./route-spec.js";

/**
 * A `nats` server per configured server, and per route and stream a channel (its address: the
 * route's filter subject, else its stream's one subject when the route declares it, else null) with
 * a `receive` operation and the `nats` operation binding (AsyncAPI's NATS bindings have no channel
 * or server fields; JetStream's stream and durable consumer are told in the descriptions).
 */
export function addNATSChannels(
  builder: AsyncAPIBuilder,
  records: readonly RouteRecord[],
  servers: readonly string[],
  routeOf: (record: RouteRecord) => NATSRoute,
): void {
  const serverRefs = servers.map((server, index) => {
    const id = builder.key(index === 0 ? "nats" : `nats${index + 1}`);
    builder.document.servers[id] = {
      host: server.replace(/^nats:\/\//, ""),
      protocol: "nats",
      description: "A NATS server with JetStream: routes read streams through durable pull consumers.",
    };
    return { $ref: `#/servers/${id}` };
  });
  for (const record of records) {
    const route = routeOf(record);
    const spec = record.spec as NATSRouteSpec;
    for (const stream of route.streams) {
      const channelId = builder.key(
        `nats.${stream}${route.subject === undefined ? "" : `.${route.subject}`}`,
      );
      const messageId = builder.key(`${channelId}.message`);
      builder.message(
        messageId,
        stream,
        spec.schema,
        "application/json",
        `A message of the stream ${stream}.`,
      );
      const subjects = declaredSubjectsOf(route, stream);
      const address = route.subject ?? (subjects?.length === 1 ? subjects[0]! : null);
      builder.document.channels[channelId] = {
        address,
        title: `JetStream stream ${stream}`,
        description: `Stream ${stream}${route.subject === undefined ? "" : `, filter subject ${route.subject}`}${
          subjects === undefined ? "" : `, subjects ${subjects.join(", ")}`
        }; durable pull consumer ${route.consumer}.`,
        servers: serverRefs,
        messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
        bindings: { nats: {} },
      };
      builder.document.operations[builder.key(`receive.${channelId}`)] = {
        action: "receive",
        channel: { $ref: `#/channels/${channelId}` },
        messages: [{ $ref: `#/channels/${channelId}/messages/${messageId}` }],
        summary: `Reads the stream ${stream} through the durable consumer ${route.consumer}, in bulks of up to ${route.bulkSize} message(s).`,
        bindings: { nats: { bindingVersion: "0.1.0" } },
      };
    }
  }
}
