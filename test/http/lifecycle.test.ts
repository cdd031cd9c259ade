import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AMQPMessage,
  type App,
  HTTPStartError,
  InvalidOptionError,
  PortInUseError,
  RouteTypes,
  StartError,
} from "../../src/index.js";
import {
  DEFAULT_HTTP_HOST,
  DEFAULT_HTTP_PORT,
  resolveHTTPOptions,
} from "../../src/transports/http/options.js";
import { newApp, started, stopAll, urlOf } from "./helpers.js";

const apps: App[] = [];
afterEach(() => stopAll(apps));

function occupiedPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("no port"));
      resolve({ server, port: address.port });
    });
  });
}

describe("host and port", () => {
  it("defaults to 127.0.0.1:8080, then the environment, then the options", () => {
    expect(resolveHTTPOptions({}, {})).toMatchObject({ host: "127.0.0.1", port: 8080 });
    expect([DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT]).toEqual(["127.0.0.1", 8080]);
    const env = { WEIR_HTTP_HOST: "0.0.0.0", WEIR_HTTP_PORT: "9001" };
    expect(resolveHTTPOptions({}, env)).toMatchObject({ host: "0.0.0.0", port: 9001 });
    expect(resolveHTTPOptions({ host: "::1", port: 0 }, env)).toMatchObject({ host: "::1", port: 0 });
  });

  it("refuses a bad port or host at construction", () => {
    for (const env of [{ WEIR_HTTP_PORT: "80abc" }, { WEIR_HTTP_PORT: "" }, { WEIR_HTTP_PORT: "70000" }]) {
      expect(() => resolveHTTPOptions({}, env)).toThrow(InvalidOptionError);
    }
    expect(() => newApp({ http: { port: -1 } })).toThrow(InvalidOptionError);
    expect(() => newApp({ http: { port: 1.5 } })).toThrow(InvalidOptionError);
    expect(() => newApp({ http: { host: "" } })).toThrow(InvalidOptionError);
    expect(() => newApp({ http: { prot: 1 } as never })).toThrow(InvalidOptionError);
  });

  it("reads WEIR_HTTP_PORT through new App()", async () => {
    const { server, port } = await occupiedPort();
    await new Promise((resolve) => server.close(resolve));
    const previous = process.env.WEIR_HTTP_PORT;
    process.env.WEIR_HTTP_PORT = String(port);
    try {
      const app = newApp({ http: { port: undefined } });
      apps.push(app);
      app.http.get("/", async () => "env");
      await app.start();
      expect(app.http.address?.port).toBe(port);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("env");
    } finally {
      if (previous === undefined) delete process.env.WEIR_HTTP_PORT;
      else process.env.WEIR_HTTP_PORT = previous;
    }
  });

  it("exposes the bound address of an ephemeral port, and clears it after stop", async () => {
    const app = await started(apps, (app) => app.http.get("/", async () => "x"));
    const address = app.http.address;
    expect(address?.host).toBe("127.0.0.1");
    expect(address?.port).toBeGreaterThan(0);
    expect(app.http.url).toBe(`http://127.0.0.1:${address?.port}`);
    expect(app.health().transports.find((t) => t.transport === "http")).toMatchObject({
      ready: true,
      routes: [{ name: "GET /", ready: true }],
    });
    await app.stop();
    expect(app.http.url).toBeUndefined();
    await expect(fetch(`http://127.0.0.1:${address?.port}/`)).rejects.toThrow();
  });

  it("rejects start() with WEIR_ERR_PORT_IN_USE when the port is taken, and stops cleanly", async () => {
    const { server, port } = await occupiedPort();
    try {
      const app = newApp({ http: { port } });
      apps.push(app);
      app.http.get("/", async () => "x");
      const failure = await app.start().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(PortInUseError);
      expect(failure).toBeInstanceOf(StartError);
      expect((failure as PortInUseError).code).toBe("WEIR_ERR_PORT_IN_USE");
      expect((failure as PortInUseError).port).toBe(port);
      expect(((failure as PortInUseError).cause as NodeJS.ErrnoException).code).toBe("EADDRINUSE");
      expect(app.status).toBe("stopped");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("rejects start() with WEIR_ERR_HTTP_START when the address cannot be bound", async () => {
    // 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
    const app = newApp({ http: { host: "192.0.2.1" } });
    apps.push(app);
    app.http.get("/", async () => "x");
    const failure = await app.start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HTTPStartError);
    expect((failure as HTTPStartError).code).toBe("WEIR_ERR_HTTP_START");
    expect(((failure as HTTPStartError).cause as NodeJS.ErrnoException).code).toBe("EADDRNOTAVAIL");
    expect(app.status).toBe("stopped");
  });
});

describe("when the server starts", () => {
  it("opens no port for an app without HTTP routes", async () => {
    const { server, port } = await occupiedPort();
    try {
      // The port is taken: if the server tried to listen, start() would reject.
      const app = newApp({ http: { port } });
      apps.push(app);
      await app.start();
      expect(app.status).toBe("running");
      expect(app.http.url).toBeUndefined();
      expect(app.health().transports.map((t) => t.transport)).not.toContain("http");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("starts for a route added straight on the fastify instance", async () => {
    const app = await started(apps, (app) => {
      app.http.server.get("/direct", async () => "direct");
    });
    expect(await (await fetch(`${urlOf(app)}/direct`)).text()).toBe("direct");
  });
});

describe("stop", () => {
  it("lets in-flight requests finish, refuses new connections, then resolves", async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const app = await started(apps, (app) => {
      app.http.get("/slow", async () => {
        entered();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return "finished";
      });
    });
    const base = urlOf(app);
    const inFlight = fetch(`${base}/slow`);
    await inHandler;
    const stopping = app.stop();
    let stopped = false;
    void stopping.then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(false);
    const releasedAt = Date.now();
    release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("finished");
    await stopping;
    // Well before the 2 s stop deadline: the kept-alive connection was closed after its response.
    expect(Date.now() - releasedAt).toBeLessThan(1_000);
    await expect(fetch(`${base}/slow`)).rejects.toThrow();
  });

  it("is bounded by the stop deadline when a handler never returns", async () => {
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const app = await started(
      apps,
      (app) => {
        app.http.get("/hang", () => {
          entered();
          return new Promise(() => {});
        });
      },
      { shutdownTimeout: 200 },
    );
    const hanging = fetch(`${urlOf(app)}/hang`).then(
      () => "answered",
      () => "cut",
    );
    // In the handler before the stop begins: a request that arrives once closing has begun gets a 503
    // (answered), so a fixed sleep here made the test fail on a busy machine.
    await inHandler;
    const begun = Date.now();
    await app.stop();
    expect(Date.now() - begun).toBeLessThan(1_500);
    expect(await hanging).toBe("cut");
  });

  it("with health endpoints on: finishes in-flight requests, answers new ones 503 while /health stays up (issue 14.6)", async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let calls = 0;
    const app = await started(
      apps,
      (app) => {
        app.http.get("/slow", async () => {
          calls++;
          entered();
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          return "finished";
        });
      },
      { observability: { health: true } },
    );
    const base = urlOf(app);
    const inFlight = fetch(`${base}/slow`);
    await inHandler;
    const stopping = app.stop();
    let stopped = false;
    void stopping.then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = await fetch(`${base}/slow`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("connection")).toBe("close");
    expect(await refused.json()).toEqual({
      statusCode: 503,
      error: "Service Unavailable",
      message: "Service Unavailable",
    });
    expect(calls).toBe(1);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const readiness = await fetch(`${base}/ready`);
    expect(readiness.status).toBe(503);
    expect(await readiness.json()).toMatchObject({ status: "stopping" });
    expect(stopped).toBe(false);
    const releasedAt = Date.now();
    release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("finished");
    await stopping;
    expect(Date.now() - releasedAt).toBeLessThan(1_000);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });

  it("with health endpoints on: is still bounded by the stop deadline when a handler never returns", async () => {
    const app = await started(
      apps,
      (app) => {
        app.http.get("/hang", () => new Promise(() => {}));
      },
      { shutdownTimeout: 200, observability: { health: true } },
    );
    const hanging = fetch(`${urlOf(app)}/hang`).then(
      () => "answered",
      () => "cut",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const begun = Date.now();
    await app.stop();
    expect(Date.now() - begun).toBeLessThan(1_500);
    expect(await hanging).toBe("cut");
  });

  it("returns the same promise twice and can run before start", async () => {
    const app = newApp();
    app.http.get("/", async () => "x");
    const first = app.stop();
    expect(app.stop()).toBe(first);
    await first;
    expect(app.status).toBe("stopped");
  });
});

describe("with AMQP routes in the same app", () => {
  it("starts, serves both, and stops cleanly", async () => {
    const queue = `weir-test-http-${randomUUID()}`;
    const received: unknown[] = [];
    let gotMessage: () => void = () => {};
    const delivered = new Promise<void>((resolve) => {
      gotMessage = resolve;
    });
    const app = await started(
      apps,
      (app) => {
        app.route(
          [queue],
          { type: RouteTypes.AMQP, declare: { durable: false, autoDelete: true } },
          async (messages: AMQPMessage[]) => {
            received.push(...messages.map((m) => m.body));
            gotMessage();
          },
        );
        // An HTTP endpoint that feeds the queue: the usual reason to have both in one app.
        app.http.post("/jobs", async (request, reply) => {
          await app.amqp.publish(request.body, { routingKey: queue });
          return reply.code(202).send({ queued: true });
        });
        app.http.get("/seen", async () => ({ received }));
      },
      { amqp: { url: "amqp://guest:guest@127.0.0.1:5672" } },
    );
    const posted = await fetch(`${urlOf(app)}/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ job: 1 }),
    });
    expect(posted.status).toBe(202);
    expect(await posted.json()).toEqual({ queued: true });
    await Promise.race([
      delivered,
      new Promise((_, reject) => setTimeout(() => reject(new Error("no AMQP delivery within 10 s")), 10_000)),
    ]);
    expect(await (await fetch(`${urlOf(app)}/seen`)).json()).toEqual({ received: [{ job: 1 }] });
    expect(app.health()).toMatchObject({ ready: true });
    const base = urlOf(app);
    await app.stop();
    expect(app.status).toBe("stopped");
    await expect(fetch(`${base}/seen`)).rejects.toThrow();
  });
});
