import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
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
    // The server is created on first use (an HTTP route, `inject`): an app without HTTP never
    // creates it, and there is then nothing to close.
    let server: FastifyInstance | undefined;
    transport.endpoints.whenServer((instance) => {
      server = instance;
    });
    return {
      api: {
        async inject(request: InjectOptions | string): Promise<LightMyRequestResponse> {
          await context.start();
          return transport.endpoints.server.inject(request);
        },
      } satisfies TestHTTP,
      async afterClose() {
        await server?.close();
      },
    };
  },
};
