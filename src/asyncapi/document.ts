import { type App, type AppTransports, appTransports } from "../app.js";
import { redactUrl } from "../core/logger.js";
import type { RouteRecord } from "../core/transport.js";
import { knownKeys } from "../core/validate.js";
import { taskNameOf } from "../tasks.js";
import type { AMQPRouteSpec } from "../transports/amqp/route-spec.js";
import { amqpInternals, DEFAULT_AMQP_URL } from "../transports/amqp/transport.js";
import type { HTTPRouteSpec } from "../transports/http/route-spec.js";
import type { SSERouteSpec } from "../transports/sse/route-spec.js";
import { componentSchemas, jsonSchemaOf, safeName } from "./json-schema.js";

/** Options of `toAsyncAPI(app, options)` (and `weir asyncapi`). */
export interface AsyncAPIOptions {
  /**
   * `info.title`.
   * @defaultValue the app's `name`
   */
  title?: string;
  /**
   * `info.version`: the version of your API, not of weir.
   * @defaultValue "1.0.0"
   */
  version?: string;
  /**
   * `info.description`, before the generated notes.
   * @defaultValue none
   */
  description?: string;
}

/** A JSON value of the document. */
export type AsyncAPIValue =
  | string
  | number
  | boolean
  | null
  | AsyncAPIValue[]
  | { [key: string]: AsyncAPIValue };

/** An AsyncAPI 3.0 document, as plain JSON. */
export interface AsyncAPIDocument {
  asyncapi: "3.0.0";
  info: { title: string; version: string; description?: string; [extension: `x-${string}`]: AsyncAPIValue };
  defaultContentType: string;
  servers: Record<string, AsyncAPIValue>;
  channels: Record<string, AsyncAPIValue>;
  operations: Record<string, AsyncAPIValue>;
  components: { messages: Record<string, AsyncAPIValue>; schemas: Record<string, AsyncAPIValue> };
}

type JSONObject = { [key: string]: AsyncAPIValue };

/** What the generator reads of an App: its routes, name and health (for SSE stream URLs). */
export type AsyncAPISource = Pick<App, "routes" | "name" | "health">;

/** The `amqp` channel and operation bindings' version (github.com/asyncapi/bindings/amqp). */
const AMQP_BINDING_VERSION = "0.3.0";

function json(value: unknown): AsyncAPIValue {
  return JSON.parse(JSON.stringify(value ?? null)) as AsyncAPIValue;
}

/** The broker URL without credentials: the App's own when it is weir's App, else the environment's. */
function brokerUrl(app: AsyncAPISource): URL {
  let url: string;
  try {
    // An App of another copy of weir has no such key: the environment's URL is the next best.
    url = (app as Partial<Record<typeof appTransports, AppTransports>>)[appTransports]!.amqp[amqpInternals]()
      .url;
  } catch {
    url = redactUrl(process.env.WEIR_AMQP_URL ?? DEFAULT_AMQP_URL);
  }
  return new URL(url);
}

function vhostOf(url: URL): string {
  return url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : "/";
}

class Builder {
  readonly document: AsyncAPIDocument;
  private readonly used = new Set<string>();

  constructor(title: string, version: string, description: string | undefined) {
    this.document = {
      asyncapi: "3.0.0",
      info: { title, version, ...(description !== undefined && { description }) },
      defaultContentType: "application/json",
      servers: {},
      channels: {},
      operations: {},
      components: { messages: {}, schemas: {} },
    };
  }

  /** A key unique among channels, operations and messages. */
  key(wanted: string): string {
    const base = safeName(wanted);
    let key = base;
    for (let n = 2; this.used.has(key); n++) key = `${base}_${n}`;
    this.used.add(key);
    return key;
  }

  /** A message component: with its payload schema when the route's schema can give one. */
  message(id: string, name: string, schema: unknown, contentType: string | undefined, summary: string): void {
    const message: JSONObject = { name, summary };
    if (contentType !== undefined) message.contentType = contentType;
    const payload = schema === undefined ? undefined : jsonSchemaOf(schema);
    if (payload !== undefined) {
      const schemas = componentSchemas(id, payload);
      for (const [key, value] of Object.entries(schemas)) this.document.components.schemas[key] = json(value);
      message.payload = { $ref: `#/components/schemas/${id}` };
    } else {
      message.description =
        schema === undefined
          ? "The route has no schema: any JSON body (or raw bytes for other content types)."
          : "The route's schema library cannot produce a JSON Schema (Standard JSON Schema), so the payload is not described.";
    }
    this.document.components.messages[id] = message;
  }
}

function amqpDetails(spec: AMQPRouteSpec, task: string | undefined): string {
  const options = spec.options ?? {};
  const parts = [
    task !== undefined ? `Task "${task}": enqueue with \`${task}.delay(payload)\`.` : undefined,
    `Bulks of up to ${options.bulkSize ?? 1} message(s)`,
    options.bulkFlushInterval !== undefined ? `flushed after ${options.bulkFlushInterval} ms` : undefined,
    options.concurrency !== undefined ? `concurrency ${options.concurrency}` : undefined,
    spec.prefetch !== undefined ? `prefetch ${spec.prefetch}` : undefined,
  ].filter((part): part is string => part !== undefined);
  const retry = spec.retry as { maxAttempts?: number } | undefined;
  if (retry !== undefined)
    parts.push(`retried on the broker up to ${retry.maxAttempts ?? 5} attempts in all`);
  if (spec.deadLetter !== undefined && spec.deadLetter !== false)
    parts.push("failures go to the dead-letter queue");
  else if (retry !== undefined) parts.push("exhausted messages go to `<queue>.dlq`");
  if (spec.once !== undefined) parts.push("duplicates are acked unprocessed (`once`)");
  return `${parts.join("; ")}.`;
}

function addAMQP(builder: Builder, app: AsyncAPISource, records: readonly RouteRecord[]): void {
  if (records.length === 0) return;
  const url = brokerUrl(app);
  const defaultVhost = vhostOf(url);
  builder.document.servers.amqp = {
    host: url.host,
    protocol: url.protocol === "amqps:" ? "amqps" : "amqp",
    description: "RabbitMQ (AMQP 0-9-1). Credentials are not part of this document.",
  };
  for (const record of records) {
    const spec = record.spec as AMQPRouteSpec;
    const task = taskNameOf(record.handler);
    const vhost = spec.vhost ?? defaultVhost;
    const declare = typeof spec.declare === "object" ? spec.declare : {};
    for (const queue of record.routes) {
      const channelId = builder.key(vhost === defaultVhost ? queue : `${vhost}.${queue}`);
      const messageId = builder.key(`${channelId}.message`);
      builder.message(messageId, queue, spec.schema, "application/json", `A message of queue "${queue}".`);
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
              durable: declare.durable ?? true,
              exclusive: declare.exclusive ?? false,
              autoDelete: declare.autoDelete ?? false,
              vhost,
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
        description: amqpDetails(spec, task),
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

function addSSE(builder: Builder, app: AsyncAPISource, records: readonly RouteRecord[]): void {
  if (records.length === 0) return;
  const health = app.health().transports.find((transport) => transport.transport === "sse");
  const servers = new Map<string, string>();
  for (const [index, record] of records.entries()) {
    const spec = record.spec as SSERouteSpec;
    const streams = (health?.routes[index]?.streams ?? []) as Array<{ path?: unknown; url?: unknown }>;
    for (const stream of streams) {
      if (typeof stream.url !== "string" || typeof stream.path !== "string") continue;
      const url = new URL(stream.url);
      const basePath = url.pathname.endsWith(stream.path.split("?")[0] ?? "")
        ? url.pathname.slice(0, url.pathname.length - (stream.path.split("?")[0] ?? "").length)
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

function httpNote(records: readonly RouteRecord[]): { text: string; paths: AsyncAPIValue[] } | undefined {
  if (records.length === 0) return undefined;
  const paths = records.flatMap((record) => {
    const methods = (record.spec as HTTPRouteSpec).methods ?? [];
    return record.routes.map((path) => ({ path, methods: [...methods] }));
  });
  const text = paths.map((entry) => `${entry.methods.join(",")} ${entry.path}`).join("; ");
  return { text: `The app also serves HTTP (request/response, not described here): ${text}.`, paths };
}

/**
 * An AsyncAPI 3.0 document of the app: a channel and a `receive` operation per AMQP queue and SSE
 * stream (tasks also get a `send` operation), message payloads as JSON Schema where the route's
 * schema can produce one, and the HTTP paths as a note (`info.x-weir-http`). Never contains
 * credentials. `weir asyncapi <module>` writes it from the command line.
 */
export function toAsyncAPI(app: AsyncAPISource, options: AsyncAPIOptions = {}): AsyncAPIDocument {
  knownKeys("toAsyncAPI", options, ["title", "version", "description"]);
  const records = app.routes;
  const byType = (type: string) => records.filter((record) => record.spec.type === type);
  const http = httpNote(byType("http"));
  const description = [options.description, http?.text].filter((part) => part !== undefined).join("\n\n");
  const builder = new Builder(
    options.title ?? app.name,
    options.version ?? "1.0.0",
    description || undefined,
  );
  if (http !== undefined) builder.document.info["x-weir-http"] = http.paths;
  addAMQP(builder, app, byType("amqp"));
  addSSE(builder, app, byType("sse"));
  return builder.document;
}
