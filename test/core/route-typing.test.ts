import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type AMQPRouteSpec, App, RouteTypes, type SSERouteSpec } from "../../src/index.js";
import { silentLogger } from "../helpers/amqp.js";

/**
 * app.route's overloads come from the route-type registry (issue #16). These calls are checked by
 * `npm run typecheck`; the @ts-expect-error lines must stay errors.
 */
describe("app.route typing from RouteKinds", () => {
  it("types the body from a type argument, a schema, or leaves it unknown for a spec typed whole", () => {
    const app = new App({ logger: silentLogger, sse: { url: "http://127.0.0.1:1" } });
    app.route<{ n: number }>(["typing.a"], { type: RouteTypes.AMQP }, async (messages) => {
      const n: number = messages[0]!.body.n;
      return n;
    });
    app.route(["typing.b"], { type: RouteTypes.AMQP, schema: z.object({ id: z.string() }) }, async ([m]) => {
      const id: string = m!.body.id;
      return id;
    });
    app.route(["/typing"], { type: RouteTypes.SSE, schema: z.object({ plan: z.string() }) }, async ([e]) => {
      const plan: string = e!.body.plan;
      return plan;
    });
    const whole: AMQPRouteSpec = { type: RouteTypes.AMQP, prefetch: 10 };
    app.route(["typing.c"], whole, async ([m]) => {
      // @ts-expect-error: a spec typed as a whole may carry any schema: the body is unknown
      m!.body.anything;
    });
    const sse: SSERouteSpec = { type: RouteTypes.SSE };
    app.route(["/typing2"], sse, async ([e]) => e?.data);
    // @ts-expect-error: not a registered route type
    expect(() => app.route(["x"], { type: "nope" }, async () => {})).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_UNKNOWN_ROUTE_TYPE" }),
    );
    expect(app.routes).toHaveLength(5);
  });
});
