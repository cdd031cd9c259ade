import { describe, expect, it } from "vitest";
import { App, RouteTypes } from "../../src/index.js";

// A worker moves between brokers by its route type and app options (issue #20): the shared route
// options must be checked the same way on every transport.
describe("route options shared by the broker transports", () => {
  it("every transport's bulkFlushInterval: up to 2^31 - 1 ms accepted, longer refused (Node's timers would fire it after 1 ms)", () => {
    for (const type of [
      RouteTypes.AMQP,
      RouteTypes.REDIS,
      RouteTypes.NATS,
      RouteTypes.SQS,
      RouteTypes.SSE,
    ] as const) {
      const app = new App();
      const route = (name: string, bulkFlushInterval: number) =>
        app.route(
          type === RouteTypes.SSE ? [`/${name}`] : [name],
          {
            type,
            ...(type === RouteTypes.SSE ? { url: "http://127.0.0.1:9" } : {}),
            options: { bulkSize: 10, bulkFlushInterval },
          } as never,
          async () => {},
        );
      route("longest", 2_147_483_647);
      expect(() => route("too-long", 2_147_483_648), type).toThrow(
        expect.objectContaining({
          code: "WEIR_ERR_INVALID_OPTION",
          message: expect.stringContaining("24.8 days"),
        }),
      );
    }
  });

  for (const type of [RouteTypes.AMQP, RouteTypes.REDIS, RouteTypes.NATS, RouteTypes.SQS] as const) {
    it(`${type}: retry with options.onException is refused at registration (one of the two would be silently dead)`, () => {
      const app = new App();
      const register = () =>
        app.route(
          ["orders"],
          { type, retry: { maxAttempts: 3 }, options: { onException: "reject" } } as never,
          async () => {},
        );
      expect(register).toThrow(
        expect.objectContaining({
          code: "WEIR_ERR_INVALID_OPTION",
          message: expect.stringContaining("options.onException"),
        }),
      );
    });

    it(`${type}: one route spec with declare: true is accepted, and a declare that is not a boolean or an object is refused`, () => {
      const app = new App();
      app.route(
        ["orders"],
        {
          type,
          declare: true,
          retry: { maxAttempts: 3 },
          deadLetter: true,
          options: { bulkSize: 10 },
        } as never,
        async () => {},
      );
      expect(() => app.route(["refused"], { type, declare: "yes" } as never, async () => {})).toThrow(
        expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION" }),
      );
    });
  }
});
