import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type App,
  ConfigurationError,
  DuplicateRouteError,
  HTTPStartError,
  InvalidOptionError,
  RouteTypes,
} from "../../src/index.js";
import { capturingLogger, newApp, started, stopAll, urlOf } from "./helpers.js";

const apps: App[] = [];
afterEach(() => stopAll(apps));

describe("HTTP routes over loopback", () => {
  it("serves one handler on several paths and methods; GET is the default", async () => {
    const app = await started(apps, (app) => {
      app.route(["/", "/hello"], { type: RouteTypes.HTTP }, async () => "Hello world");
      app.route(
        ["/items", "/things"],
        { type: RouteTypes.HTTP, methods: ["POST", "PUT"] },
        async (request) => ({
          method: request.method,
          url: request.url,
          body: request.body,
        }),
      );
    });
    const base = urlOf(app);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const path of ["/", "/hello"]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("Hello world");
    }
    // GET routes only: POST on them is not routed.
    expect((await fetch(`${base}/hello`, { method: "POST" })).status).toBe(404);
    for (const [method, path] of [
      ["POST", "/items"],
      ["PUT", "/things"],
    ] as const) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ n: 1 }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({ method, url: path, body: { n: 1 } });
    }
    expect((await fetch(`${base}/items`)).status).toBe(404);
  });

  it("passes path parameters", async () => {
    const app = await started(apps, (app) => {
      app.route(
        ["/users/:id", "/teams/:team/users/:id"],
        { type: RouteTypes.HTTP },
        async (request) => request.params,
      );
    });
    expect(await (await fetch(`${urlOf(app)}/users/42`)).json()).toEqual({ id: "42" });
    expect(await (await fetch(`${urlOf(app)}/teams/a%20b/users/7`)).json()).toEqual({ team: "a b", id: "7" });
  });

  it("answers HEAD for GET routes, and lets a handler set status and headers through reply", async () => {
    const app = await started(apps, (app) => {
      app.http.get("/created", async (_request, reply) => {
        reply.code(201).header("x-weir", "yes");
        return { ok: true };
      });
    });
    const response = await fetch(`${urlOf(app)}/created`);
    expect(response.status).toBe(201);
    expect(response.headers.get("x-weir")).toBe("yes");
    expect(await response.json()).toEqual({ ok: true });
    const head = await fetch(`${urlOf(app)}/created`, { method: "HEAD" });
    expect(head.status).toBe(201);
    expect(await head.text()).toBe("");
  });

  it("lets a route list HEAD beside GET", async () => {
    const app = await started(apps, (app) => {
      app.route(["/both"], { type: RouteTypes.HTTP, methods: ["GET", "HEAD"] }, async (request, reply) => {
        reply.header("x-method", request.method);
        return "body";
      });
    });
    const head = await fetch(`${urlOf(app)}/both`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("x-method")).toBe("HEAD");
    expect(await head.text()).toBe("");
    expect(await (await fetch(`${urlOf(app)}/both`)).text()).toBe("body");
  });

  it("answers an unknown path with a JSON 404", async () => {
    const app = await started(apps, (app) => app.http.get("/", async () => "root"));
    const response = await fetch(`${urlOf(app)}/nowhere?x=1`);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ statusCode: 404, error: "Not Found", message: "Not Found" });
  });
});

describe("schema validation", () => {
  it("refuses bad input with a clear 400 and does not call the handler", async () => {
    const handler = vi.fn(async (request: { body: unknown }) => ({ got: request.body }));
    const app = await started(apps, (app) => {
      app.route(
        ["/orders"],
        {
          type: RouteTypes.HTTP,
          methods: ["POST"],
          schema: {
            body: {
              type: "object",
              required: ["sku", "quantity"],
              properties: { sku: { type: "string" }, quantity: { type: "integer", minimum: 1 } },
            },
          },
        },
        handler,
      );
    });
    const post = (body: string) =>
      fetch(`${urlOf(app)}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });

    const missing = await post(JSON.stringify({ sku: "a" }));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      statusCode: 400,
      code: "FST_ERR_VALIDATION",
      error: "Bad Request",
      message: "body must have required property 'quantity'",
    });
    const wrongType = await post(JSON.stringify({ sku: "a", quantity: 0 }));
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { message: string }).message).toBe("body/quantity must be >= 1");
    const notJson = await post("{nope");
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toBe("Bad Request");
    expect(handler).not.toHaveBeenCalled();

    const ok = await post(JSON.stringify({ sku: "a", quantity: 2 }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ got: { sku: "a", quantity: 2 } });
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it("validates path parameters and query strings", async () => {
    const app = await started(apps, (app) => {
      app.http.get(
        "/pages/:n",
        {
          schema: {
            params: { type: "object", properties: { n: { type: "integer" } } },
            querystring: { type: "object", properties: { size: { type: "integer", maximum: 50 } } },
          },
        },
        async (request) => ({ params: request.params, query: request.query }),
      );
    });
    expect(await (await fetch(`${urlOf(app)}/pages/3?size=10`)).json()).toEqual({
      params: { n: 3 },
      query: { size: 10 },
    });
    expect((await fetch(`${urlOf(app)}/pages/three`)).status).toBe(400);
    expect((await fetch(`${urlOf(app)}/pages/3?size=51`)).status).toBe(400);
  });

  it("fails start() with a coded error when a schema does not compile", async () => {
    const app = newApp();
    apps.push(app);
    app.http.post("/bad", { schema: { body: { type: "no-such-type" } } }, async () => "x");
    const failure = await app.start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HTTPStartError);
    expect((failure as HTTPStartError).code).toBe("WEIR_ERR_HTTP_START");
    expect(app.status).toBe("stopped");
  });
});

describe("handler errors", () => {
  it("answers a throw with a generic 500, never the message or stack, and logs the stack", async () => {
    const { logger, lines } = capturingLogger("error");
    const app = await started(
      apps,
      (app) => {
        app.http.get("/boom", async () => {
          throw new Error("password=hunter2 at /srv/db.ts");
        });
        app.http.get("/string", () => {
          throw "a string";
        });
      },
      { logger },
    );
    for (const path of ["/boom", "/string"]) {
      const response = await fetch(`${urlOf(app)}${path}`);
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({
        statusCode: 500,
        error: "Internal Server Error",
        message: "Internal Server Error",
      });
      expect(text).not.toMatch(/hunter2|db\.ts|string/);
    }
    const logged = lines.find((line) => line.msg === "HTTP request failed" && line.route === "/boom");
    expect(logged).toBeDefined();
    const err = logged?.err as { message: string; stack: string };
    expect(err.message).toContain("hunter2");
    expect(err.stack).toMatch(/routes\.test\.ts/);
    expect(logged?.transport).toBe("http");
    expect(logged?.reqId).toMatch(/^req-/);
  });

  it("request.log writes through the app's logger with the request id; app.http.server.log too, without one", async () => {
    const { logger, lines } = capturingLogger("info");
    const app = await started(
      apps,
      (app) => {
        app.http.get("/log", async (request) => {
          request.log.debug({ hidden: true }, "below the level");
          request.log.info({ id: request.id }, "from the handler");
          return "x";
        });
      },
      { logger },
    );
    expect((await fetch(`${urlOf(app)}/log`)).status).toBe(200);
    app.http.server.log.info("from the instance");
    const line = lines.find((entry) => entry.msg === "from the handler");
    expect(line?.reqId).toMatch(/^req-/);
    expect(line).toMatchObject({ transport: "http", reqId: line?.id });
    expect(lines.some((entry) => entry.msg === "below the level")).toBe(false);
    const instanceLine = lines.find((entry) => entry.msg === "from the instance");
    expect(instanceLine).toMatchObject({ transport: "http" });
    expect(instanceLine?.reqId).toBeUndefined();
  });

  it("gives a child logger factory of the user's the app's logger as parent", async () => {
    const { logger, lines } = capturingLogger("info");
    const app = await started(
      apps,
      (app) => {
        app.http.server.setChildLoggerFactory((parent, bindings, options) =>
          parent.child({ ...bindings, custom: true }, options),
        );
        app.http.get("/", async (request) => {
          request.log.info("custom child");
          return "x";
        });
      },
      { logger },
    );
    expect((await fetch(`${urlOf(app)}/`)).status).toBe(200);
    expect(lines.find((entry) => entry.msg === "custom child")).toMatchObject({
      transport: "http",
      custom: true,
      reqId: expect.stringMatching(/^req-/),
    });
  });

  it("keeps the statusCode a thrown error carries", async () => {
    const app = await started(apps, (app) => {
      app.http.get("/teapot", async () => {
        throw Object.assign(new Error("short and stout"), { statusCode: 418, code: "TEAPOT" });
      });
      app.http.get("/unavailable", async () => {
        throw Object.assign(new Error("db host 10.0.0.3 down"), { statusCode: 503 });
      });
      app.http.get("/weird", async () => {
        throw Object.assign(new Error("no"), { statusCode: 302 });
      });
    });
    const teapot = await fetch(`${urlOf(app)}/teapot`);
    expect(teapot.status).toBe(418);
    expect(await teapot.json()).toEqual({
      statusCode: 418,
      code: "TEAPOT",
      error: "I'm a Teapot",
      message: "short and stout",
    });
    const unavailable = await fetch(`${urlOf(app)}/unavailable`);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toEqual({
      statusCode: 503,
      error: "Service Unavailable",
      message: "Service Unavailable",
    });
    // A non-error status is not an error status: the throw is a 500.
    expect((await fetch(`${urlOf(app)}/weird`)).status).toBe(500);
  });
});

describe("registration", () => {
  it("refuses the same method and path twice, at registration", () => {
    const app = newApp();
    app.route(["/a", "/users/:id"], { type: RouteTypes.HTTP, methods: ["GET", "POST"] }, async () => "a");
    const attempts: Array<() => unknown> = [
      () => app.route(["/a"], { type: RouteTypes.HTTP }, async () => "again"),
      () => app.http.post("/a", async () => "again"),
      () => app.http.get("/users/:name", async () => "same route, other parameter name"),
      () => app.route(["/b", "/b"], { type: RouteTypes.HTTP }, async () => "twice in one call"),
      () => app.http.head("/a", async () => "fastify already answers HEAD for GET"),
    ];
    for (const attempt of attempts) {
      const error = (() => {
        try {
          attempt();
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(DuplicateRouteError);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as DuplicateRouteError).code).toBe("WEIR_ERR_DUPLICATE_ROUTE");
    }
    // Another method on the same path is a different route; a refused call left nothing behind.
    expect(() => app.http.delete("/a", async () => "deleted")).not.toThrow();
    expect(() => app.http.get("/b", async () => "b")).not.toThrow();
    expect(app.routes).toHaveLength(3);
  });

  it("checks methods, paths and options at registration", () => {
    const app = newApp();
    const handler = async () => "x";
    const invalid = [
      () => app.route(["/x"], { type: RouteTypes.HTTP, methods: ["FETCH" as "GET"] }, handler),
      () => app.route(["/x"], { type: RouteTypes.HTTP, methods: [] }, handler),
      () => app.route(["no-slash"], { type: RouteTypes.HTTP }, handler),
      () => app.route(["/x"], { type: RouteTypes.HTTP, method: ["GET"] } as never, handler),
      () => app.route(["/x"], { type: RouteTypes.HTTP, auth: { nope: true } as never }, handler),
      () => app.http.get("/x", { methods: ["POST"] } as never, handler),
    ];
    for (const attempt of invalid) {
      expect(attempt).toThrow(InvalidOptionError);
    }
    expect(() => app.route(["/x"], { type: RouteTypes.HTTP }, "not a function" as never)).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_HANDLER_NOT_FUNCTION" }),
    );
    expect(app.routes).toHaveLength(0);
  });

  it("refuses routes and plugins after start", async () => {
    const app = await started(apps, (app) => app.http.get("/", async () => "x"));
    expect(() => app.http.get("/late", async () => "x")).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_APP_STARTED" }),
    );
    expect(() => app.http.register(async () => {})).toThrow(
      expect.objectContaining({ code: "WEIR_ERR_APP_STARTED" }),
    );
  });
});

describe("the fastify instance", () => {
  it("takes plugins through app.http.register, and they start the server by themselves", async () => {
    const app = await started(apps, (app) => {
      app.http.register(
        async (instance, options: { greeting: string }) => {
          instance.addHook("onSend", async (_request, reply) => {
            reply.header("x-plugin", "on");
          });
          instance.get("/plugin", async () => options.greeting);
        },
        { greeting: "from a plugin" },
      );
    });
    const response = await fetch(`${urlOf(app)}/plugin`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("from a plugin");
    expect(response.headers.get("x-plugin")).toBe("on");
  });

  it("exposes the fastify instance for decorators and hooks that reach weir's routes", async () => {
    const app = await started(apps, (app) => {
      app.http.server.addHook("onRequest", async (_request, reply) => {
        reply.header("x-hook", "seen");
      });
      app.http.get("/", async () => "x");
    });
    const response = await fetch(`${urlOf(app)}/`);
    expect(response.headers.get("x-hook")).toBe("seen");
  });

  it("logs each request only when logRequests is on", async () => {
    for (const logRequests of [true, false]) {
      const { logger, lines } = capturingLogger("info");
      const app = await started(apps, (app) => app.http.get("/", async () => "x"), {
        logger,
        http: { logRequests },
      });
      await fetch(`${urlOf(app)}/`);
      await app.stop();
      const completed = lines.filter((line) => line.msg === "request completed");
      expect(completed, String(logRequests)).toHaveLength(logRequests ? 1 : 0);
      if (logRequests) expect(completed[0]).toMatchObject({ transport: "http", res: { statusCode: 200 } });
    }
  });

  it("passes fastify server options through", async () => {
    const app = await started(apps, (app) => app.http.post("/", async () => "x"), {
      http: { fastify: { bodyLimit: 16 } },
    });
    const response = await fetch(`${urlOf(app)}/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ longer: "than sixteen bytes" }),
    });
    expect(response.status).toBe(413);
  });
});
