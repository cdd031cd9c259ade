import { schemaVendor } from "../../core/schema.js";
import type { RouteDescription } from "../../core/transport.js";
import { deadLetterQueueOf } from "./retry/options.js";
import type { AMQPRoute } from "./route-spec.js";
import { offsetText } from "./stream/options.js";
import type { ResolvedBinding } from "./topology.js";

/** `exchange:key` per binding (`exchange[x-match]` for a header match), comma-separated. */
export function bindingsText(bindings: readonly ResolvedBinding[], queues: number): string {
  return bindings
    .map((binding) => {
      const match = binding.arguments["x-match"];
      const key = match === undefined ? binding.routingKey : `headers(${String(match)})`;
      const queue = binding.queue !== undefined && queues > 1 ? `${binding.queue} <- ` : "";
      return `${queue}${binding.exchange}:${key}`;
    })
    .join(", ");
}

/**
 * An AMQP route as `weir routes` shows it: every option with its default applied (prefetch from
 * `amqp.prefetch`, the vhost from the URL, ...), so the table says what will run.
 */
export function describeAMQPRoute(route: AMQPRoute, task: string | undefined): RouteDescription {
  const firstQueue = route.queues[0] ?? "";
  return {
    type: "amqp",
    routes: route.queues,
    ...(task !== undefined && { task }),
    details: {
      vhost: route.vhost,
      prefetch: route.prefetch,
      bulkSize: route.bulkSize,
      bulkFlushInterval: route.flushInterval,
      concurrency: route.concurrency,
      timeout: route.timeout,
      onSuccess: route.onSuccess,
      onException: route.onException,
      declare: route.declare !== undefined ? true : undefined,
      retry: route.retry?.maxAttempts,
      // Shown when quorum only: classic is what every route had before (issue #18).
      retryQueueType: route.retry?.queueType === "quorum" ? "quorum" : undefined,
      deadLetter:
        route.deadLetter === undefined
          ? undefined
          : route.queues.length === 1
            ? deadLetterQueueOf(firstQueue, route.deadLetter)
            : (route.deadLetter.queue ?? "<queue>.dlq"),
      deadLetterQueueType: route.deadLetter?.queueType === "quorum" ? "quorum" : undefined,
      once: route.once?.ttl,
      schema: schemaVendor(route.schema),
      exchanges:
        route.exchanges.length === 0
          ? undefined
          : route.exchanges.map((exchange) => `${exchange.name}(${exchange.type})`).join(", "),
      bindings: route.bindings.length === 0 ? undefined : bindingsText(route.bindings, route.queues.length),
      broadcast:
        route.broadcast === undefined
          ? undefined
          : `${bindingsText(route.broadcast, 1)} (a server-named exclusive queue per instance)`,
      priority: route.consumer.priority,
      exclusive: route.consumer.exclusive ? true : undefined,
      singleActiveConsumer: route.consumer.singleActiveConsumer ? true : undefined,
      reply: route.reply === undefined ? undefined : route.reply.includeStack ? "with stacks" : true,
      stream:
        route.stream === undefined
          ? undefined
          : `consumer ${route.stream.consumer} from ${String(offsetText(route.stream.offset))} (a stored offset wins; in ${route.stream.offsetQueue})`,
    },
  };
}
