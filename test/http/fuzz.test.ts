import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, basicAuth, cachedBasicAuth, hashPassword, jwtAuth, RouteTypes } from "../../src/index.js";
import { started, stopAll, urlOf } from "./helpers.js";

/** mulberry32: a seeded generator, so a failing run can be replayed with its seed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.WEIR_FUZZ_SEED ?? Date.now() % 1_000_000);
const random = generator(SEED);
const int = (below: number) => Math.floor(random() * below);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
const bytes = (length: number) => Buffer.from(Array.from({ length }, () => int(256)));
/** Header-safe text: any byte a client can put in a header value (no CR, LF or NUL). */
const headerText = (length: number) =>
  Array.from({ length }, () =>
    String.fromCharCode(pick([9, ...Array.from({ length: 224 }, (_, i) => i + 32)])),
  )
    .join("")
    .replace(/\x7f/g, "");

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
const SEGMENTS = [
  "",
  "users",
  "42",
  "-1",
  "orders",
  "me",
  "basic",
  "cached",
  "open",
  "%",
  "%zz",
  "%00",
  "%2F",
  "..",
  ".",
  "*",
  ":id",
  ";x",
  "é",
  "%C3%A9",
  "a".repeat(300),
];
const CONTENT_TYPES = [
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "text/plain",
  "application/octet-stream",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "",
  "garbage/;;;",
];

function randomPath(): string {
  const depth = 1 + int(4);
  let path = "";
  for (let i = 0; i < depth; i++)
    path += `/${int(4) === 0 ? encodeURIComponent(headerText(1 + int(8))) : pick(SEGMENTS)}`;
  if (int(3) === 0)
    path += `?${pick(["a=1", "size=x", "size=10", "%%", "a[b]=c", "=&=&", headerText(5).replace(/[#\s]/g, "")])}`;
  return path;
}

function randomAuthorization(): string | undefined {
  switch (int(8)) {
    case 0:
      return undefined;
    case 1:
      return headerText(int(60));
    case 2:
      return `Basic ${headerText(int(40))}`;
    case 3:
      return `Basic ${bytes(int(48)).toString("base64")}`;
    case 4:
      return `Basic ${Buffer.from(`${headerText(1 + int(8))}:${headerText(int(8))}`, "latin1").toString("base64")}`;
    case 5:
      return `Bearer ${[0, 1, 2].map(() => bytes(int(40)).toString("base64url")).join(".")}`;
    case 6:
      return `Bearer ${Buffer.from(JSON.stringify({ alg: pick(["none", "HS256", "RS256", 7, null]) })).toString("base64url")}.${Buffer.from(
        JSON.stringify(pick([{}, null, "x", { exp: "soon" }, { sub: "alice", exp: 9_999_999_999 }])),
      ).toString("base64url")}.${bytes(int(40)).toString("base64url")}`;
    default:
      return `${pick(["Basic", "Bearer", "Digest", "basic", "BEARER"])} ${headerText(int(30))}`;
  }
}

function randomBody(): { body: string | Buffer | undefined; contentType: string | undefined } {
  const contentType = pick(CONTENT_TYPES);
  switch (int(5)) {
    case 0:
      return { body: undefined, contentType };
    case 1:
      return {
        body: JSON.stringify({ sku: pick(["a", 1, null]), quantity: pick([1, 0, -5, "2", 1.5]) }),
        contentType,
      };
    case 2:
      return { body: `{${headerText(int(20))}`, contentType };
    case 3:
      return { body: bytes(int(200)), contentType };
    default:
      // Prototype-poisoning bodies are raw text: an object literal's __proto__ would not be serialized.
      return {
        body: pick([
          "[]",
          "null",
          "1",
          '"s"',
          '{"__proto__":{"polluted":true}}',
          '{"constructor":{"prototype":{"x":1}}}',
        ]),
        contentType,
      };
  }
}

describe("fuzzing the HTTP server", () => {
  const apps: App[] = [];
  let app: App;

  beforeAll(async () => {
    const users = { alice: await hashPassword("pw", { cost: 10 }) };
    app = await started(apps, (app) => {
      app.route(["/", "/open"], { type: RouteTypes.HTTP, methods: ["GET", "POST"] }, async (request) => ({
        ok: true,
        body: request.body ?? null,
      }));
      app.http.get("/users/:id", async (request) => request.params);
      app.http.post(
        "/orders",
        {
          schema: {
            body: {
              type: "object",
              required: ["sku", "quantity"],
              properties: { sku: { type: "string" }, quantity: { type: "integer", minimum: 1 } },
            },
          },
        },
        async () => ({ created: true }),
      );
      app.http.get("/basic", { auth: basicAuth({ users }) }, async () => "in");
      app.http.put(
        "/cached",
        { auth: cachedBasicAuth({ verify: (user) => user === "alice", ttl: 1_000 }) },
        async () => "in",
      );
      app.route(
        ["/me"],
        {
          type: RouteTypes.HTTP,
          methods: ["GET", "POST", "DELETE"],
          auth: jwtAuth({ secret: "s".repeat(32), algorithms: ["HS256"] }),
        },
        async (request) => request.auth ?? null,
      );
    });
  });
  afterAll(() => stopAll(apps));

  it(`answers thousands of random requests with 2xx or 4xx only (seed ${SEED})`, async () => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      const method = pick(METHODS);
      const url = randomPath();
      const authorization = randomAuthorization();
      const { body, contentType } = randomBody();
      const headers: Record<string, string> = {};
      if (authorization !== undefined) headers.authorization = authorization;
      if (contentType !== undefined) headers["content-type"] = contentType;
      if (int(10) === 0)
        headers[pick(["accept", "x-forwarded-for", "cookie", "content-encoding"])] = headerText(int(30));
      const response = await app.http.server.inject({
        method,
        url,
        headers,
        ...(body !== undefined && method !== "GET" && method !== "HEAD" && { payload: body }),
      });
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      if (response.statusCode >= 500 || response.statusCode < 200) {
        failures.push(`${response.statusCode} ${method} ${url} ${JSON.stringify(headers)} ${response.body}`);
      }
    }
    expect(failures.slice(0, 5), `seed ${SEED}`).toEqual([]);
    // The loop reached every kind of answer, not just one: routing, validation and auth all ran.
    for (const status of [200, 400, 401, 404])
      expect(statuses.get(status), `status ${status}`).toBeGreaterThan(0);
  });

  it(`survives random requests and raw garbage over real sockets (seed ${SEED})`, async () => {
    const base = urlOf(app);
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) {
      const method = pick(METHODS);
      const { body, contentType } = randomBody();
      const headers: Record<string, string> = {};
      const authorization = randomAuthorization();
      if (authorization !== undefined) headers.authorization = authorization;
      if (contentType !== undefined) headers["content-type"] = contentType;
      let response: Response;
      try {
        response = await fetch(`${base}${randomPath()}`, {
          method,
          headers,
          ...(body !== undefined && method !== "GET" && method !== "HEAD" && { body }),
        });
      } catch {
        continue; // fetch refused to send it (an invalid header for undici): nothing reached the server
      }
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    expect(statuses.length).toBeGreaterThan(200);
    expect(statuses.filter((status) => status >= 500 || status < 200)).toEqual([]);

    const { port } = app.http.address ?? { port: 0 };
    for (let i = 0; i < 30; i++) {
      const payload =
        int(2) === 0
          ? bytes(1 + int(500))
          : Buffer.from(
              `${pick(METHODS)} /${headerText(int(20))} HTTP/1.1\r\n${headerText(int(50))}\r\n\r\n`,
              "latin1",
            );
      const reply = await new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        let received = "";
        socket.setTimeout(500, () => socket.destroy());
        socket.on("data", (chunk) => {
          received += chunk.toString("latin1");
        });
        socket.on("close", () => resolve(received));
        socket.on("error", () => resolve(received));
        socket.end(payload);
      });
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1];
      if (status !== undefined) expect(Number(status), reply.slice(0, 200)).toBeLessThan(500);
    }

    const alive = await fetch(`${base}/open`);
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ ok: true, body: null });
    expect(app.health().ready).toBe(true);
  });
});
