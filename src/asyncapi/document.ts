import { appTransports } from "../core/application.js";
import type { AsyncAPIBuilder, AsyncAPIDocument, AsyncAPIValue } from "../core/asyncapi-builder.js";
import type { RouteRecord, Transport } from "../core/transport.js";
import { knownKeys } from "../core/validate.js";
import { componentSchemas, jsonSchemaOf, safeName } from "./json-schema.js";

export type { AsyncAPIDocument, AsyncAPIValue } from "../core/asyncapi-builder.js";

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

type JSONObject = { [key: string]: AsyncAPIValue };

/** What the generator reads of an App: its name, routes and transports. */
export interface AsyncAPISource {
  readonly name: string;
  readonly routes: readonly RouteRecord[];
  readonly [appTransports]: ReadonlyMap<string, Transport>;
}

function json(value: unknown): AsyncAPIValue {
  return JSON.parse(JSON.stringify(value ?? null)) as AsyncAPIValue;
}

class Builder implements AsyncAPIBuilder {
  readonly document: AsyncAPIDocument;
  private readonly used = new Set<string>();

  constructor(title: string, version: string) {
    this.document = {
      asyncapi: "3.0.0",
      info: { title, version },
      defaultContentType: "application/json",
      servers: {},
      channels: {},
      operations: {},
      components: { messages: {}, schemas: {} },
    };
  }

  private readonly notes: string[] = [];

  /** Appends a paragraph to `info.description`. */
  note(text: string): void {
    this.notes.push(text);
    this.document.info.description = this.notes.join("\n\n");
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

/**
 * An AsyncAPI 3.0 document of the app: a channel and a `receive` operation per AMQP queue and SSE
 * stream (tasks also get a `send` operation), a `send` operation per typed publisher
 * (`app.amqp.publisher`) created before the app started, message payloads as JSON Schema where the route's
 * schema can produce one, and the HTTP paths as a note (`info.x-weir-http`). Never contains
 * credentials. `weir asyncapi <module>` writes it from the command line.
 */
export function toAsyncAPI(app: AsyncAPISource, options: AsyncAPIOptions = {}): AsyncAPIDocument {
  knownKeys("toAsyncAPI", options, ["title", "version", "description"]);
  const builder = new Builder(options.title ?? app.name, options.version ?? "1.0.0");
  if (options.description !== undefined) builder.note(options.description);
  for (const transport of app[appTransports].values()) {
    const records = app.routes.filter((record) => record.spec.type === transport.type);
    if (records.length === 0 && (transport.publications?.().length ?? 0) === 0) continue;
    if (transport.asyncapi === undefined) {
      builder.note(
        `${records.length > 0 ? "Routes" : "Publishers"} of type "${transport.type}" are not described here: its transport adds nothing to AsyncAPI documents.`,
      );
    } else {
      transport.asyncapi(builder, records);
    }
  }
  return builder.document;
}
