import type { RouteHealth } from "../../../core/transport.js";
import type { TestDriverFactory } from "../../../testing/driver.js";
import type { SSETransport } from "../transport.js";
import { SSEFeeds, type SSERouteInfo, type TestSSE } from "./sse-client.js";

declare module "../../../testing/client.js" {
  interface TestClientTransports {
    /** In-memory SSE sources: emit events to a route's stream, drop and resume its connection. */
    readonly sse: TestSSE;
  }
}

/** The SSE transport's connections served from memory, through this app's own `fetch`. */
export const sseTestDriver: TestDriverFactory<SSETransport> = {
  type: "sse",
  optionKeys: [],
  create(transport, context) {
    const routeHealth = (name: string): RouteHealth | undefined =>
      transport.health().routes.find((route) => route.name === name);
    const feeds = new SSEFeeds(context.start, routeHealth);
    const previous = transport.fetcher.fetch;
    transport.fetcher.fetch = feeds.fetch;
    return {
      api: feeds,
      beforeStart() {
        const streams: Array<{ url: string; path: string; route: SSERouteInfo }> = [];
        const health = transport.health();
        const records = context.app.routes.filter((record) => record.spec.type === transport.type);
        for (const [index, record] of records.entries()) {
          const route = transport.routeOf(record);
          if (route === undefined) continue;
          const info: SSERouteInfo = {
            name: route.name,
            bulkSize: route.bulkSize,
            flushInterval: route.flushInterval,
          };
          const described = (health.routes[index]?.streams ?? []) as Array<{ path?: unknown; url?: unknown }>;
          for (const stream of described) {
            if (typeof stream.url === "string" && typeof stream.path === "string") {
              streams.push({ url: stream.url, path: stream.path, route: info });
            }
          }
        }
        feeds.attach(streams);
      },
      afterClose() {
        feeds.detach();
        transport.fetcher.fetch = previous;
      },
    };
  },
};
