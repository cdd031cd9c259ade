import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type App,
  type Authorizer,
  basicAuth,
  cachedBasicAuth,
  hashPassword,
  InvalidOptionError,
  RouteTypes,
  verifyPassword,
} from "../../src/index.js";
import { basic, started, stopAll, urlOf } from "./helpers.js";

const UNAUTHORIZED = { statusCode: 401, error: "Unauthorized", message: "Unauthorized" };
const apps: App[] = [];
afterEach(() => stopAll(apps));

describe("hashPassword", () => {
  it("makes salted scrypt hashes that verify in both directions", async () => {
    const first = await hashPassword("correct horse", { cost: 10 });
    const second = await hashPassword("correct horse", { cost: 10 });
    expect(first).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(first).not.toBe(second);
    expect(first).not.toContain("correct horse");
    expect(await verifyPassword("correct horse", first)).toBe(true);
    expect(await verifyPassword("correct horse", second)).toBe(true);
    expect(await verifyPassword("correct horsf", first)).toBe(false);
    expect(await verifyPassword("", first)).toBe(false);
  });

  it("treats composed and decomposed Unicode as the same password", async () => {
    const hash = await hashPassword("caf\u00e9", { cost: 10 });
    expect(await verifyPassword("cafe\u0301", hash)).toBe(true);
  });

  it("refuses a cost out of range and a hash it did not make", async () => {
    await expect(hashPassword("x", { cost: 4 })).rejects.toThrow(InvalidOptionError);
    await expect(hashPassword("x", { cost: 31 })).rejects.toThrow(InvalidOptionError);
    await expect(verifyPassword("x", "plain-text")).rejects.toThrow(InvalidOptionError);
    await expect(
      verifyPassword(
        "x",
        "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      ),
    ).rejects.toThrow(InvalidOptionError);
  });
});

describe("basicAuth", () => {
  let app: App;
  const verify = vi.fn(
    async (user: string, password: string) => user === "alice" && password === "s3cret:with colon",
  );

  beforeAll(async () => {
    const users = { bob: await hashPassword("bob's password", { cost: 10 }) };
    app = await started([], (app) => {
      app.route(
        ["/verify"],
        { type: RouteTypes.HTTP, methods: ["GET", "POST"], auth: basicAuth({ verify }) },
        async (request) => ({
          user: request.auth?.sub,
        }),
      );
      app.http.get("/users", { auth: basicAuth({ users, realm: 'ops "zone"' }) }, async (request) => ({
        user: request.auth?.sub,
      }));
      app.http.get("/open", async (request) => ({ auth: request.auth ?? null }));
    });
  });
  afterAll(() => app.stop());

  it("lets the right credentials through over loopback, with the user on request.auth", async () => {
    const response = await fetch(`${urlOf(app)}/verify`, {
      headers: { authorization: basic("alice", "s3cret:with colon") },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ user: "alice" });
    expect(verify).toHaveBeenLastCalledWith("alice", "s3cret:with colon", expect.anything());
    const users = await fetch(`${urlOf(app)}/users`, {
      headers: { authorization: basic("bob", "bob's password") },
    });
    expect(users.status).toBe(200);
    expect(await users.json()).toEqual({ user: "bob" });
    expect(await (await fetch(`${urlOf(app)}/open`)).json()).toEqual({ auth: null });
  });

  it("answers a missing header with 401, a challenge and no detail", async () => {
    const response = await fetch(`${urlOf(app)}/verify`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Basic realm="weir", charset="UTF-8"');
    expect(await response.json()).toEqual(UNAUTHORIZED);
    const users = await fetch(`${urlOf(app)}/users`);
    expect(users.headers.get("www-authenticate")).toBe('Basic realm="ops \\"zone\\"", charset="UTF-8"');
  });

  it("refuses wrong passwords and unknown users the same way", async () => {
    const cases = [
      ["/verify", basic("alice", "wrong")],
      ["/verify", basic("mallory", "s3cret:with colon")],
      ["/users", basic("bob", "wrong")],
      ["/users", basic("nobody", "bob's password")],
      ["/users", basic("__proto__", "x")],
      ["/users", basic("constructor", "x")],
    ];
    for (const [path, authorization] of cases) {
      const response = await app.http.server.inject({ url: path, headers: { authorization } });
      expect(response.statusCode, `${path} ${authorization}`).toBe(401);
      expect(response.json()).toEqual(UNAUTHORIZED);
      expect(response.headers["www-authenticate"]).toMatch(/^Basic realm=/);
    }
  });

  it("refuses malformed headers with 401, never a 500", async () => {
    const headers = [
      "",
      "Basic",
      "Basic ",
      "Basic    ",
      "Bearer abc.def.ghi",
      `Digest ${Buffer.from("alice:s3cret:with colon").toString("base64")}`,
      `Basic${Buffer.from("alice:s3cret:with colon").toString("base64")}`,
      "Basic !!!not-base64!!!",
      "Basic YWxpY2U6czNjcmV0OndpdGggY29sb24", // unpadded
      "Basic YWxp Y2U6",
      "Basic ====",
      `Basic ${Buffer.from("no colon here").toString("base64")}`,
      `Basic ${Buffer.from(":empty user").toString("base64")}`,
      `Basic ${Buffer.from("alice:\u0000s3cret").toString("base64")}`,
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`, // not UTF-8
      `Basic ${"A".repeat(9000)}`,
      `basic ${Buffer.from("alice:wrong").toString("base64")}`,
    ];
    for (let i = 0; i < 50; i++) headers.push(randomBytes(1 + (i % 40)).toString("latin1"));
    for (let i = 0; i < 50; i++) headers.push(`Basic ${randomBytes(1 + (i % 60)).toString("latin1")}`);
    for (let i = 0; i < 50; i++) headers.push(`Basic ${randomBytes(3 * (1 + (i % 20))).toString("base64")}`);
    for (const authorization of headers) {
      for (const path of ["/verify", "/users"]) {
        const response = await app.http.server.inject({ url: path, headers: { authorization } });
        expect(response.statusCode, JSON.stringify(authorization)).toBe(401);
        expect(response.json()).toEqual(UNAUTHORIZED);
      }
    }
  });

  it("accepts the scheme in any case, as HTTP requires", async () => {
    const token = Buffer.from("alice:s3cret:with colon").toString("base64");
    const response = await app.http.server.inject({
      url: "/verify",
      headers: { authorization: `bAsIc ${token}` },
    });
    expect(response.statusCode).toBe(200);
  });

  it("checks credentials before reading the body", async () => {
    const response = await app.http.server.inject({
      method: "POST",
      url: "/verify",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    expect(response.statusCode).toBe(401);
  });

  it("guards the HEAD route fastify adds for GET", async () => {
    expect((await app.http.server.inject({ method: "HEAD", url: "/users" })).statusCode).toBe(401);
  });
});

describe("basicAuth when verify fails", () => {
  it("answers a throwing verify with a generic 500, not a 401", async () => {
    const app = await started(apps, (app) => {
      app.http.get(
        "/",
        {
          auth: basicAuth({
            verify: () => {
              throw new Error("ldap down at 10.1.2.3");
            },
          }),
        },
        async () => "x",
      );
    });
    const response = await fetch(`${urlOf(app)}/`, { headers: { authorization: basic("a", "b") } });
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("ldap");
  });

  it("only lets a verify that returns true through", async () => {
    const app = await started(apps, (app) => {
      app.http.get("/", { auth: basicAuth({ verify: (() => "yes") as never }) }, async () => "x");
    });
    expect((await fetch(`${urlOf(app)}/`, { headers: { authorization: basic("a", "b") } })).status).toBe(401);
  });

  it("refuses bad options at construction", () => {
    expect(() => basicAuth({} as never)).toThrow(InvalidOptionError);
    expect(() => basicAuth({ verify: () => true, users: {} } as never)).toThrow(InvalidOptionError);
    expect(() => basicAuth({ verify: "yes" } as never)).toThrow(InvalidOptionError);
    expect(() => basicAuth({ users: { bob: "plain-text-password" } })).toThrow(InvalidOptionError);
    expect(() => basicAuth({ verify: () => true, realm: "bad\r\nrealm" })).toThrow(InvalidOptionError);
    expect(() => basicAuth({ verify: () => true, ttl: 5 } as never)).toThrow(InvalidOptionError);
  });
});

describe("a custom authorizer", () => {
  it("is used like the built-in ones", async () => {
    const apiKey: Authorizer = {
      challenge: 'ApiKey realm="weir"',
      async authorize(request) {
        return request.headers["x-api-key"] === "k-123" ? { sub: "service-a", scope: "read" } : undefined;
      },
    };
    const app = await started(apps, (app) =>
      app.http.get("/", { auth: apiKey }, async (request) => request.auth),
    );
    const ok = await fetch(`${urlOf(app)}/`, { headers: { "x-api-key": "k-123" } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ sub: "service-a", scope: "read" });
    const refused = await fetch(`${urlOf(app)}/`, { headers: { "x-api-key": "k-999" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe('ApiKey realm="weir"');
    expect(await refused.json()).toEqual(UNAUTHORIZED);
  });
});

describe("cachedBasicAuth", () => {
  it("reuses a success until the ttl expires, never caches failures", async () => {
    const verify = vi.fn(async (user: string, password: string) => user === "alice" && password === "pw");
    const app = await started(apps, (app) => {
      app.http.get(
        "/",
        { auth: cachedBasicAuth({ verify, ttl: 300 }) },
        async (request) => request.auth?.sub,
      );
    });
    const call = (password: string) =>
      fetch(`${urlOf(app)}/`, { headers: { authorization: basic("alice", password) } }).then(async (r) => [
        r.status,
        await r.text(),
      ]);
    expect(await call("pw")).toEqual([200, "alice"]);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(await call("pw")).toEqual([200, "alice"]); // cache hit
    expect(verify).toHaveBeenCalledTimes(1);
    // A different password for the same user is another key: checked, refused, and not cached.
    expect((await call("wrong"))[0]).toBe(401);
    expect((await call("wrong"))[0]).toBe(401);
    expect(verify).toHaveBeenCalledTimes(3);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await call("pw")).toEqual([200, "alice"]); // expired: checked again
    expect(verify).toHaveBeenCalledTimes(4);
    expect(await call("pw")).toEqual([200, "alice"]);
    expect(verify).toHaveBeenCalledTimes(4);
  });

  it("works with a users table", async () => {
    const users = { a: await hashPassword("pa", { cost: 10 }) };
    const app = await started(apps, (app) =>
      app.http.get("/", { auth: cachedBasicAuth({ users }) }, async (request) => request.auth?.sub),
    );
    const status = async (user: string, password: string) =>
      (await app.http.server.inject({ url: "/", headers: { authorization: basic(user, password) } }))
        .statusCode;
    expect(await status("a", "pa")).toBe(200);
    expect(await status("a", "pa")).toBe(200);
    expect(await status("a", "pb")).toBe(401);
    expect(await status("b", "pa")).toBe(401);
  });

  it("drops the oldest entry past maxEntries", async () => {
    const verify = vi.fn(async () => true);
    const app = await started(apps, (app) =>
      app.http.get("/", { auth: cachedBasicAuth({ verify, ttl: 60_000, maxEntries: 1 }) }, async () => "ok"),
    );
    const call = (user: string) =>
      app.http.server.inject({ url: "/", headers: { authorization: basic(user, "pw") } });
    await call("a");
    await call("a");
    expect(verify).toHaveBeenCalledTimes(1);
    await call("b"); // evicts a
    await call("a");
    expect(verify).toHaveBeenCalledTimes(3);
    await call("a");
    expect(verify).toHaveBeenCalledTimes(3);
  });

  it("refuses a bad ttl", () => {
    expect(() => cachedBasicAuth({ verify: () => true, ttl: 0 })).toThrow(InvalidOptionError);
    expect(() => cachedBasicAuth({ verify: () => true, maxEntries: 0 })).toThrow(InvalidOptionError);
  });
});
