import rateLimit from "@fastify/rate-limit";
import fp from "fastify-plugin";
import { afterEach, describe, expect, it } from "vitest";
import { type App, basicAuth, hashPassword, RouteTypes, verifyPassword } from "../../src/index.js";
import { basic, started, stopAll, urlOf } from "./helpers.js";

const apps: App[] = [];
afterEach(() => stopAll(apps));

/**
 * Issue 15.5: every wrong password costs a full scrypt check (tens of ms of a threadpool thread),
 * so a flood of them is a denial of service on a public endpoint. docs/http.md shows a rate limit
 * with @fastify/rate-limit installed as a global onRequest hook: global hooks run before a route's
 * own, so the limit answers 429 before weir's authorizer computes any hash.
 */
describe("basic auth under a flood of wrong passwords (issue 15.5)", () => {
  it("with the rate limit of docs/http.md in front, only `max` passwords are ever hashed", async () => {
    const hash = await hashPassword("right", { cost: 10 });
    let checks = 0;
    const auth = basicAuth({
      verify: async (username, password) => {
        checks++;
        return username === "admin" && (await verifyPassword(password, hash));
      },
    });
    const app = await started(apps, (app) => {
      // As in docs/http.md.
      app.http.register(
        fp(async (server) => {
          await server.register(rateLimit, { global: false });
          server.addHook("onRequest", server.rateLimit({ max: 20, timeWindow: 60_000 }));
        }),
      );
      app.route(["/private"], { type: RouteTypes.HTTP, methods: ["GET"], auth }, async () => "secret");
    });
    const url = `${urlOf(app)}/private`;
    const wrong = { authorization: basic("admin", "guess") };
    const statuses = await Promise.all(
      Array.from({ length: 60 }, async () => (await fetch(url, { headers: wrong })).status),
    );
    expect(statuses.filter((status) => status === 401)).toHaveLength(20);
    expect(statuses.filter((status) => status === 429)).toHaveLength(40);
    expect(checks).toBe(20);
    // The limit is per client and counts every request: the right password is refused too, now.
    expect((await fetch(url, { headers: { authorization: basic("admin", "right") } })).status).toBe(429);
    expect(checks).toBe(20);
  });

  it("with the plugin's default per-route hook, the authorizer runs first (why the docs install it globally)", async () => {
    let checks = 0;
    const auth = basicAuth({
      verify: () => {
        checks++;
        return false;
      },
    });
    const app = await started(apps, (app) => {
      app.http.register(rateLimit, { max: 5, timeWindow: 60_000 });
      app.route(["/private"], { type: RouteTypes.HTTP, methods: ["GET"], auth }, async () => "secret");
    });
    const url = `${urlOf(app)}/private`;
    for (let i = 0; i < 10; i++) await fetch(url, { headers: { authorization: basic("admin", "guess") } });
    // Every request reached the authorizer: the limit, appended after it, saved no check.
    expect(checks).toBe(10);
  });
});
