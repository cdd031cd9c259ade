import type { Context } from "@opentelemetry/api";
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from "fastify";
import { openTelemetry } from "./libraries.js";
import type { WeirMetrics } from "./metrics.js";
import { endHTTPSpan, type Tracing } from "./tracing.js";

/** The route label of a request no route matched: the raw URL would make a series per URL. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * Adds request metrics and a span per request to weir's fastify instance. Called at construction,
 * before any route exists: the `onRoute` hook only sees routes added after it.
 */
export function instrumentHTTP(
  server: FastifyInstance,
  metrics: WeirMetrics | undefined,
  tracing: Tracing | undefined,
): void {
  if (metrics !== undefined) {
    // Callback style: this runs for every response, and an async hook costs a promise each time.
    server.addHook("onResponse", (request, reply, done) => {
      metrics.httpRequest(
        request.method,
        request.routeOptions.url ?? UNMATCHED_ROUTE,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    });
  }
  if (tracing !== undefined) traceRequests(server, tracing);
}

function traceRequests(server: FastifyInstance, tracing: Tracing): void {
  const { context } = openTelemetry();
  // Keyed by request, so nothing is added to fastify's request object (its shape stays fixed).
  const spans = new WeakMap<FastifyRequest, Context>();
  const errors = new WeakMap<FastifyRequest, unknown>();
  const end = (request: FastifyRequest, status: number): void => {
    const spanContext = spans.get(request);
    if (spanContext === undefined) return;
    spans.delete(request);
    endHTTPSpan(spanContext, status, errors.get(request));
  };
  server.addHook("onRequest", (request, _reply, done) => {
    const query = request.url.indexOf("?");
    const path = query === -1 ? request.url : request.url.slice(0, query);
    spans.set(
      request,
      tracing.startHTTPSpan(request.method, request.routeOptions.url, path, request.headers),
    );
    done();
  });
  // A hook's callback does not carry the span's context on to the handler (the body is read from
  // socket events in between), so each route's handler is wrapped to run inside it: what it
  // publishes, or any span it starts, belongs to the request's trace.
  server.addHook("onRoute", (route) => {
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const spanContext = spans.get(request);
      if (spanContext === undefined) return handler.call(this, request, reply);
      return context.with(spanContext, handler, this, request, reply);
    };
  });
  server.addHook("onError", (request, _reply, error, done) => {
    errors.set(request, error);
    done();
  });
  server.addHook("onResponse", (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  // The client went away before its request was read: no response, but the span must still end.
  server.addHook("onRequestAbort", (request, done) => {
    end(request, 499);
    done();
  });
}
