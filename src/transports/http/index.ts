// PLACEHOLDER: the HTTP transport is being built in this folder (issue 6). The exported names and
// constructor signatures below are the contract src/app.ts relies on.
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from "fastify";
import type { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import type { RouteRecord, Transport, TransportContext, TransportHealth } from "../../core/transport.js";

export type HTTPMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

export interface HTTPOptions {
  host?: string;
  port?: number;
}

export interface HTTPRouteSpec {
  type: typeof RouteTypes.HTTP;
  methods?: HTTPMethod[];
  schema?: FastifySchema;
}

export type HTTPHandler = (request: FastifyRequest, reply: FastifyReply) => unknown;

export interface HTTPFacade {
  readonly server: FastifyInstance | undefined;
}

export class HTTPTransport implements Transport {
  readonly type = "http";
  constructor(_context: TransportContext, _options: HTTPOptions = {}) {}
  facade(_route: (routes: string[], spec: HTTPRouteSpec, handler: HTTPHandler) => void): HTTPFacade {
    return { server: undefined };
  }
  register(_route: RouteRecord): void {
    throw new Error("HTTP routes are not implemented yet");
  }
  needed(): boolean {
    return false;
  }
  async start(): Promise<void> {}
  async stop(_deadline: Deadline): Promise<void> {}
  health(): TransportHealth {
    return { transport: this.type, ready: true, routes: [] };
  }
}
