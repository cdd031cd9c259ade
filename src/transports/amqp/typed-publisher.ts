import { InvalidOptionError } from "../../core/errors.js";
import {
  type SchemaResult,
  type StandardSchemaV1,
  schemaOption,
  schemaVendor,
  validateWith,
} from "../../core/schema.js";
import type { PublicationDescription } from "../../core/transport.js";
import { knownKeys, nonEmptyString } from "../../core/validate.js";
import { encodeHeaders } from "./field-table/encode.js";
import { PublishSchemaError } from "./publish-errors.js";
import { checkPublishOptions, PUBLISH_OPTION_KEYS, type PublishOptions } from "./publish-options.js";

/**
 * Typed publishers (FastStream's `broker.publisher`, Rascal's publications): one object names a
 * destination, a body schema and publish defaults, so handlers receive it by dependency instead of
 * repeating exchange names and routing keys, and `weir routes` and the AsyncAPI document list what
 * the app sends.
 *
 * ```ts
 * const orderCreated = app.amqp.publisher({ exchange: "shop", routingKey: "order.created", schema: Order });
 * await orderCreated.publish({ id: 42, total: 30 }); // typed from the schema, validated, confirmed
 * ```
 */

/**
 * Options of `app.amqp.publisher(options)`: where it sends, what it sends, and the defaults of each
 * of its publishes (any of which a publish's `overrides` may change). Checked at the call: an
 * unknown key or a bad value throws `WEIR_ERR_INVALID_OPTION` naming it (`publisher.<key>`), a
 * default header that cannot travel a `HeaderValueError` (`WEIR_ERR_PUBLISH_HEADER`).
 */
export interface PublisherOptions {
  /** The exchange it publishes to; `""` is the default exchange, which routes by queue name. */
  exchange: string;
  /**
   * The routing key (with the default exchange, the queue name); a publish may give another.
   * @defaultValue ""
   */
  routingKey?: string;
  /**
   * A Standard Schema v1 validator (zod, valibot, arktype, ...) of the body: `publish`'s body type
   * is the schema's *input* type, and each body is validated before anything is sent (a refusal
   * rejects with `PublishSchemaError`, `WEIR_ERR_PUBLISH_SCHEMA`). The body is sent as given, not
   * as the schema's output: a consumer with the same schema applies the defaults and transforms.
   * It is also the message payload of the publisher's AsyncAPI `send` operation.
   * @defaultValue none: any body (`unknown`, or the type parameter), not validated
   */
  schema?: StandardSchemaV1;
  /**
   * The publisher's name in `weir routes`, the AsyncAPI document and its errors.
   * @defaultValue `exchange:routingKey` (`(default):queue` on the default exchange)
   */
  name?: string;
  /**
   * The vhost it publishes on.
   * @defaultValue the vhost of the app's AMQP URL, else "/"
   */
  vhost?: string;
  /**
   * Headers of every publish, as `app.amqp.publish` sends them; a publish's own `headers` are
   * merged over them (its value wins for a name in both).
   * @defaultValue none
   */
  headers?: Record<string, unknown>;
  /**
   * Delivery mode 2 (written to disk by the broker).
   * @defaultValue true
   */
  persistent?: boolean;
  /**
   * Reject a message no queue takes with `WEIR_ERR_PUBLISH_UNROUTABLE` (`true`), or let the broker
   * drop it (`false`).
   * @defaultValue true
   */
  mandatory?: boolean;
  /**
   * Content type. Objects are always sent as JSON.
   * @defaultValue "application/json" for objects, "application/octet-stream" for Buffers
   */
  contentType?: string;
  /**
   * Message priority, an integer from 0 to 255 (queues declared with `x-max-priority`).
   * @defaultValue none
   */
  priority?: number;
  /**
   * Per-message TTL in ms, a whole number >= 0 (https://www.rabbitmq.com/docs/ttl).
   * @defaultValue none
   */
  expiration?: number;
  /**
   * How long each publish may take in all (ms), as `app.amqp.publish`'s `timeout`.
   * @defaultValue the app's `amqp.publishTimeout` (10000)
   */
  timeout?: number;
}

/**
 * What one `publish` of a typed publisher may change: every option of `app.amqp.publish` but the
 * destination's exchange and vhost, which are the publisher's. Headers merge over the publisher's;
 * a key given as `undefined` keeps the publisher's value.
 */
export type PublisherOverrides = Omit<PublishOptions, "exchange" | "vhost">;

/**
 * A typed publisher, returned by `app.amqp.publisher(options)`: publishes bodies of type `T` to
 * one destination with its defaults. Creating one opens nothing: the publishing connection is
 * opened by the first publish (of any kind) of the app, so a publisher may be made at module level
 * and handed to handlers or put on `app.state` before `start()`.
 */
export interface AMQPPublisher<T = unknown> {
  /** Its name (`options.name`, else `exchange:routingKey`). */
  readonly name: string;
  /** The exchange it publishes to (`""`: the default exchange). */
  readonly exchange: string;
  /** Its default routing key (`""` when it has none). */
  readonly routingKey: string;
  /** The vhost it publishes on, the app's default applied. */
  readonly vhost: string;
  /**
   * Validates `body` with the publisher's schema, then publishes it as `app.amqp.publish` does
   * (resolving once the broker confirmed and routed it) with the publisher's defaults, `overrides`
   * over them. A generated `messageId` and the current `timestamp` are sent unless `overrides`
   * give them. Rejects, with nothing sent, with `PublishSchemaError` (`WEIR_ERR_PUBLISH_SCHEMA`)
   * for a body the schema refuses and `WEIR_ERR_INVALID_OPTION` for an unknown or invalid
   * override; otherwise with `app.amqp.publish`'s errors.
   */
  publish(body: T, overrides?: PublisherOverrides): Promise<void>;
}

/** What a typed publisher publishes through: `app.amqp.publish`. */
export interface PublishTarget {
  publish(body: unknown, options?: PublishOptions): Promise<void>;
}

/** What the AsyncAPI document needs of a publisher: its destination, schema and defaults. */
export interface PublisherSpec {
  readonly name: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly vhost: string;
  readonly schema: StandardSchemaV1 | undefined;
  readonly options: Readonly<PublishOptions>;
}

const PUBLISHER_KEYS = [
  "exchange",
  "routingKey",
  "schema",
  "name",
  "vhost",
  "headers",
  "persistent",
  "mandatory",
  "contentType",
  "priority",
  "expiration",
  "timeout",
];

const OVERRIDE_KEYS = PUBLISH_OPTION_KEYS.filter((key) => key !== "exchange" && key !== "vhost");

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  throw new InvalidOptionError(option, `must be a string, got ${String(value)}`);
}

/** `exchange:routingKey`, the default exchange written `(default)`. */
export function destinationOf(exchange: string, routingKey: string): string {
  return `${exchange === "" ? "(default)" : exchange}:${routingKey}`;
}

/** A typed publisher over `target` (the transport): see `AMQPPublisher`. */
export class TypedPublisher<T = unknown> implements AMQPPublisher<T> {
  readonly name: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly vhost: string;
  private readonly schema: StandardSchemaV1 | undefined;
  /** The options of a publish without overrides: passed as they are, so such a publish allocates none. */
  private readonly base: Readonly<PublishOptions>;

  /** Checks `options` (throws `WEIR_ERR_INVALID_OPTION`, `WEIR_ERR_PUBLISH_HEADER`). */
  constructor(
    private readonly target: PublishTarget,
    options: PublisherOptions,
    defaultVhost: string,
    private readonly defaultTimeout: number,
  ) {
    knownKeys("publisher", options, PUBLISHER_KEYS);
    if (options === undefined)
      throw new InvalidOptionError("publisher", "must be an object with an exchange");
    if (typeof options.exchange !== "string") {
      throw new InvalidOptionError(
        "publisher.exchange",
        `must be the name of an exchange ("" for the default exchange), got ${String(options.exchange)}`,
      );
    }
    this.exchange = options.exchange;
    this.routingKey = optionalString("publisher.routingKey", options.routingKey) ?? "";
    this.vhost =
      options.vhost === undefined ? defaultVhost : nonEmptyString("publisher.vhost", options.vhost);
    this.name =
      options.name === undefined
        ? destinationOf(this.exchange, this.routingKey)
        : nonEmptyString("publisher.name", options.name);
    this.schema = schemaOption("publisher.schema", options.schema);
    optionalString("publisher.contentType", options.contentType);
    if (options.persistent !== undefined && typeof options.persistent !== "boolean") {
      throw new InvalidOptionError(
        "publisher.persistent",
        `must be a boolean, got ${String(options.persistent)}`,
      );
    }
    // Refused here, where it was written, rather than at every publish.
    encodeHeaders(options.headers);
    const base: PublishOptions = {
      exchange: this.exchange,
      routingKey: this.routingKey,
      vhost: this.vhost,
    };
    for (const key of [
      "headers",
      "persistent",
      "mandatory",
      "contentType",
      "priority",
      "expiration",
      "timeout",
    ] as const) {
      if (options[key] !== undefined) (base as Record<string, unknown>)[key] = options[key];
    }
    checkPublishOptions(base, "publisher");
    this.base = Object.freeze(base);
  }

  publish(body: T, overrides?: PublisherOverrides): Promise<void> {
    let options = this.base;
    if (overrides !== undefined) {
      try {
        checkPublishOptions(overrides, "publisher.publish", OVERRIDE_KEYS);
      } catch (error) {
        return Promise.reject(error);
      }
      options = this.merged(overrides);
    }
    const schema = this.schema;
    if (schema === undefined) return this.target.publish(body, options);
    const checked = validateWith(schema, body);
    if (checked instanceof Promise) return checked.then((result) => this.sendChecked(result, body, options));
    return this.sendChecked(checked, body, options);
  }

  private sendChecked(result: SchemaResult<unknown>, body: unknown, options: PublishOptions): Promise<void> {
    if (!result.ok) return Promise.reject(new PublishSchemaError(this.name, result.issues));
    // The body as given (the schema's input), not its output: the consumer's schema transforms.
    return this.target.publish(body, options);
  }

  /** The publisher's options with `overrides` over them: one object (two when both have headers). */
  private merged(overrides: PublisherOverrides): PublishOptions {
    const options: Record<string, unknown> = { ...this.base };
    for (const key in overrides) {
      const value = (overrides as Record<string, unknown>)[key];
      if (value !== undefined) options[key] = value;
    }
    const headers = this.base.headers;
    if (headers !== undefined && overrides.headers !== undefined) {
      options.headers = { ...headers, ...overrides.headers };
    }
    return options as PublishOptions;
  }

  /** @internal Its destination, schema and defaults, for the AsyncAPI document. */
  spec(): PublisherSpec {
    return {
      name: this.name,
      exchange: this.exchange,
      routingKey: this.routingKey,
      vhost: this.vhost,
      schema: this.schema,
      options: this.base,
    };
  }

  /** @internal Its row of `weir routes`, defaults applied. */
  describe(): PublicationDescription {
    const options = this.base;
    const headers = options.headers === undefined ? [] : Object.keys(options.headers);
    return {
      type: "amqp",
      name: this.name,
      destination: destinationOf(this.exchange, this.routingKey),
      details: {
        vhost: this.vhost,
        persistent: options.persistent ?? true,
        mandatory: options.mandatory ?? true,
        contentType: options.contentType,
        priority: options.priority,
        expiration: options.expiration,
        timeout: options.timeout ?? this.defaultTimeout,
        headers: headers.length === 0 ? undefined : headers.join(","),
        schema: schemaVendor(this.schema),
      },
    };
  }
}
