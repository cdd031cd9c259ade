// PLACEHOLDER: the SSE transport is being built in this folder (issue 8). The exported names and
// constructor signatures below are the contract src/app.ts relies on.
import type { RouteTypes } from "../../core/constants.js";
import type { Deadline } from "../../core/deadline.js";
import type { RouteRecord, Transport, TransportContext, TransportHealth } from "../../core/transport.js";

export type SSEHeaders =
  | Record<string, string>
  | (() => Record<string, string> | Promise<Record<string, string>>);

export interface SSEOptions {
  url?: string;
  headers?: SSEHeaders;
  user?: string;
  password?: string;
}

export interface SSEEvent<T = unknown> {
  readonly name: string;
  readonly body: T;
  readonly data: string;
  readonly id: string | undefined;
  readonly lastEventId: string;
}

export interface SSERouteSpec {
  type: typeof RouteTypes.SSE;
  url?: string;
  headers?: SSEHeaders;
}

export type SSEHandler<T = unknown> = (events: SSEEvent<T>[]) => unknown;

export class SSETransport implements Transport {
  readonly type = "sse";
  constructor(_context: TransportContext, _options: SSEOptions = {}) {}
  register(_route: RouteRecord): void {
    throw new Error("SSE routes are not implemented yet");
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
