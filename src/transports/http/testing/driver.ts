import type { InjectOptions, LightMyRequestResponse } from "fastify";
import type { TestDriverFactory } from "../../../testing/driver.js";
import type { HTTPTransport } from "../transport.js";

/** `client.http`: requests injected into weir's fastify server, without a socket. */
export interface TestHTTP {
  /** fastify's `inject` (light-my-request), after the app has started. */
  inject(request: InjectOptions | string): Promise<LightMyRequestResponse>;
}

declare module "../../../testing/client.js" {
  interface TestClientTransports {
    /** Requests through fastify's `inject`: no port is opened. */
    readonly http: TestHTTP;
  }
}

/** The HTTP transport's server, never listening: requests go through `inject`. */
export const httpTestDriver: TestDriverFactory<HTTPTransport> = {
  type: "http",
  optionKeys: [],
  create(transport, context) {
    transport.injectOnly();
    const server = transport.endpoints.server;
    return {
      api: {
        async inject(request: InjectOptions | string): Promise<LightMyRequestResponse> {
          await context.start();
          return server.inject(request);
        },
      } satisfies TestHTTP,
      async afterClose() {
        await server.close();
      },
    };
  },
};
