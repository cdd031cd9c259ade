import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** The JSON body of every error response weir sends, shaped like fastify's own. */
export interface HTTPErrorBody {
  statusCode: number;
  code?: string;
  error: string;
  message: string;
}

function reason(status: number): string {
  return STATUS_CODES[status] ?? "Error";
}

/** A body that says only what the status says: nothing about the server's insides. */
export function genericErrorBody(status: number): HTTPErrorBody {
  return { statusCode: status, error: reason(status), message: reason(status) };
}

/** The status a thrown value asks for: its `statusCode` (or `status`) when that is a 4xx/5xx, else 500. */
export function statusOf(error: unknown): number {
  if (typeof error !== "object" || error === null) return 500;
  const { statusCode, status } = error as { statusCode?: unknown; status?: unknown };
  const candidate = statusCode ?? status;
  return typeof candidate === "number" && Number.isInteger(candidate) && candidate >= 400 && candidate <= 599
    ? candidate
    : 500;
}

/**
 * weir's error and not-found handlers. fastify's default error handler sends the error's message
 * with a 500, which can leak internals (SQL, paths, tokens); weir sends a generic body for every 5xx
 * and keeps the message, meant for the client, only for 4xx errors (validation, explicit 4xx throws).
 */
export function installErrorReplies(server: FastifyInstance): void {
  server.setErrorHandler((error: FastifyError | unknown, request: FastifyRequest, reply: FastifyReply) => {
    const status = statusOf(error);
    if (status >= 500) {
      // A non-Error throw has no stack; wrap it so the log line still says what was thrown.
      const err = error instanceof Error ? error : new Error(`non-error thrown: ${String(error)}`);
      request.log.error(
        { err, method: request.method, route: request.routeOptions.url },
        "HTTP request failed",
      );
      return reply.code(status).send(genericErrorBody(status));
    }
    const { message, code } = error as { message?: unknown; code?: unknown };
    const body: HTTPErrorBody = {
      statusCode: status,
      error: reason(status),
      message: typeof message === "string" && message.length > 0 ? message : reason(status),
    };
    if (typeof code === "string") body.code = code;
    request.log.debug(
      { status, code, method: request.method, route: request.routeOptions.url },
      "HTTP client error",
    );
    return reply.code(status).send(body);
  });
  // The path is not echoed back: a reflected URL is one more thing to escape downstream.
  server.setNotFoundHandler((_request, reply) => reply.code(404).send(genericErrorBody(404)));
}
