/**
 * What a transport writes into the app's AsyncAPI document (`Transport.asyncapi`). The document's
 * shape lives here, in core, because transports fill it and `asyncapi/` assembles it: neither side
 * names the other.
 */

/** A JSON value of the document. */
export type AsyncAPIValue =
  | string
  | number
  | boolean
  | null
  | AsyncAPIValue[]
  | { [key: string]: AsyncAPIValue };

/** An AsyncAPI 3.0 document, as plain JSON (https://www.asyncapi.com/docs/reference/specification/v3.0.0). */
export interface AsyncAPIDocument {
  asyncapi: "3.0.0";
  info: { title: string; version: string; description?: string; [extension: `x-${string}`]: AsyncAPIValue };
  defaultContentType: string;
  servers: Record<string, AsyncAPIValue>;
  channels: Record<string, AsyncAPIValue>;
  operations: Record<string, AsyncAPIValue>;
  components: { messages: Record<string, AsyncAPIValue>; schemas: Record<string, AsyncAPIValue> };
}

/** The document under construction, as a transport sees it. */
export interface AsyncAPIBuilder {
  /** The document: add servers, channels and operations to it directly. */
  readonly document: AsyncAPIDocument;
  /** A key unique among servers, channels, operations and messages, derived from `wanted`. */
  key(wanted: string): string;
  /**
   * Adds the message component `id`: with its payload as JSON Schema when `schema` (a Standard
   * Schema) can produce one, else a description saying why the payload is not described.
   */
  message(id: string, name: string, schema: unknown, contentType: string | undefined, summary: string): void;
  /** Appends a paragraph to `info.description` (after the user's own description). */
  note(text: string): void;
}
