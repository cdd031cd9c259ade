import type { RouteDescription } from "../../core/transport.js";
import { deadLetterQueueOf } from "./retry/options.js";
import type { AMQPRoute } from "./route-spec.js";

/** The vendor of a Standard Schema (`zod`, `valibot`, ...), or true when it names none. */
function schemaVendor(schema: unknown): string | true {
  return (schema as { "~standard"?: { vendor?: string } })["~standard"]?.vendor ?? true;
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
      deadLetter:
        route.deadLetter === undefined
          ? undefined
          : route.queues.length === 1
            ? deadLetterQueueOf(firstQueue, route.deadLetter)
            : (route.deadLetter.queue ?? "<queue>.dlq"),
      once: route.once?.ttl,
      schema: route.schema === undefined ? undefined : schemaVendor(route.schema),
    },
  };
}
