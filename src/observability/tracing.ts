import type * as OpenTelemetry from "@opentelemetry/api";
import type { Context, Link, Span, SpanContext, TextMapGetter, Tracer } from "@opentelemetry/api";
import type { HandlerCall, PublishCall } from "../core/instrumentation.js";
import { openTelemetry } from "./libraries.js";

/** The instrumentation scope weir's spans are recorded under. */
export const TRACER_NAME = "weir";

type Carrier = Readonly<Record<string, unknown>>;

/**
 * Reads a trace context from AMQP headers. amqplib decodes a long string header as a string, but a
 * header set by another client as a byte array arrives as a Buffer; both carry the same text.
 */
export const headerGetter: TextMapGetter<Carrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === "string") return value;
    if (Buffer.isBuffer(value)) return value.toString("utf8");
    return undefined;
  },
};

/** Required by the first `Tracing`: every function below runs only once one exists. */
let api: typeof OpenTelemetry;

function fail(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: api.SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * Spans and context propagation through `@opentelemetry/api` only: without an SDK registered the
 * tracer and the propagator are the API's no-ops, so this costs a few calls per bulk and records
 * nothing.
 */
export class Tracing {
  readonly tracer: Tracer;
  /** `messaging.system` by transport type, as each transport names its system. */
  readonly systems = new Map<string, string>();

  constructor() {
    api = openTelemetry();
    this.tracer = api.trace.getTracer(TRACER_NAME);
  }

  /**
   * Runs a handler call in a consumer span linked to every message's propagated context. When all
   * the messages come from one context (always so for a bulk of one) the span is also its child,
   * so publisher and consumer share a trace; a bulk from several traces cannot have one parent, and
   * gets only the links (OpenTelemetry's batch-processing convention).
   */
  runHandler<T>(call: HandlerCall, run: () => Promise<T>): Promise<T> {
    const links = this.links(call);
    const parent =
      links.length > 0 && links.every((link) => sameSpan(link.context, links[0]!.context))
        ? api.trace.setSpanContext(api.ROOT_CONTEXT, links[0]!.context)
        : // The active context here is whatever was active when the channel was opened: never a parent.
          api.ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      `process ${call.route}`,
      {
        kind: api.SpanKind.CONSUMER,
        links,
        attributes: {
          "messaging.system": this.systems.get(call.transport) ?? call.transport,
          "messaging.operation.type": "process",
          "messaging.operation.name": "process",
          "messaging.destination.name": call.route,
          "messaging.batch.message_count": call.size,
          "weir.transport": call.transport,
        },
      },
      parent,
    );
    return this.runIn(span, api.trace.setSpan(parent, span), run);
  }

  /** Runs a publish in a producer span whose context travels in the message's headers. */
  runPublish<T>(call: PublishCall, run: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const active = api.context.active();
    const span = this.tracer.startSpan(
      `publish ${call.destination || "(default)"}`,
      {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          "messaging.system": this.systems.get(call.transport) ?? call.transport,
          "messaging.operation.type": "send",
          "messaging.operation.name": "publish",
          "messaging.destination.name": call.destination,
          "weir.transport": call.transport,
        },
      },
      active,
    );
    const spanContext = api.trace.setSpan(active, span);
    const headers: Record<string, string> = {};
    api.propagation.inject(spanContext, headers);
    return this.runIn(span, spanContext, () => run(headers));
  }

  /** The context of an incoming HTTP request: its `traceparent` header, if any, is the parent. */
  startHTTPSpan(method: string, route: string | undefined, path: string, headers: Carrier): Context {
    const parent = api.propagation.extract(api.ROOT_CONTEXT, headers, headerGetter);
    const span = this.tracer.startSpan(
      route === undefined ? method : `${method} ${route}`,
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          "http.request.method": method,
          "url.path": path,
          ...(route !== undefined && { "http.route": route }),
        },
      },
      parent,
    );
    return api.trace.setSpan(parent, span);
  }

  private links(call: HandlerCall): Link[] {
    // No propagator registered (no SDK): nothing to extract, so skip reading the headers at all.
    if (api.propagation.fields().length === 0) return [];
    const links: Link[] = [];
    for (const carrier of call.carriers()) {
      if (carrier === undefined) continue;
      const spanContext = api.trace.getSpanContext(
        api.propagation.extract(api.ROOT_CONTEXT, carrier, headerGetter),
      );
      if (spanContext !== undefined && api.isSpanContextValid(spanContext))
        links.push({ context: spanContext });
    }
    return links;
  }

  private async runIn<T>(span: Span, spanContext: Context, run: () => Promise<T>): Promise<T> {
    try {
      return await api.context.with(spanContext, run);
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  }
}

function sameSpan(a: SpanContext, b: SpanContext): boolean {
  return a.traceId === b.traceId && a.spanId === b.spanId;
}

/** Ends an HTTP request's span with its status; a 5xx (or an error) marks it failed. */
export function endHTTPSpan(spanContext: Context, status: number, error?: unknown): void {
  const span = api.trace.getSpan(spanContext);
  if (span === undefined) return;
  span.setAttribute("http.response.status_code", status);
  if (error !== undefined) fail(span, error);
  else if (status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
  span.end();
}
