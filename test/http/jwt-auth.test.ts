import { KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, InvalidOptionError, jwtAuth, RouteTypes } from "../../src/index.js";
import { started, stopAll, urlOf } from "./helpers.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!";
const ISSUER = "https://id.example.test";
const AUDIENCE = "weir-tests";
const UNAUTHORIZED = { statusCode: 401, error: "Unauthorized", message: "Unauthorized" };

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

function hsToken(
  claims: JWTPayload = {},
  build?: (jwt: SignJWT) => SignJWT,
  secret: string | Uint8Array = SECRET,
) {
  let jwt = new SignJWT({ sub: "alice", ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m");
  if (build) jwt = build(jwt);
  return jwt.sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}

const apps: App[] = [];
let app: App;
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let rsa: KeyPair;
let otherRsa: KeyPair;
let publicPem: string;
let jwks: Server;
let jwksUrl: string;

beforeAll(async () => {
  rsa = await generateKeyPair("RS256", { extractable: true });
  otherRsa = await generateKeyPair("RS256", { extractable: true });
  publicPem = await exportSPKI(rsa.publicKey);
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  jwks = createServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;

  app = await started(apps, (app) => {
    app.route(
      ["/me"],
      {
        type: RouteTypes.HTTP,
        methods: ["GET"],
        auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
      },
      async (request) => ({ sub: request.auth?.sub, role: request.auth?.role }),
    );
    app.http.get(
      "/rsa",
      { auth: jwtAuth({ publicKey: publicPem, algorithms: ["RS256"] }) },
      async (request) => ({
        sub: request.auth?.sub,
      }),
    );
    app.http.get(
      "/jwks",
      { auth: jwtAuth({ jwksUrl, algorithms: ["RS256"], issuer: ISSUER }) },
      async (request) => ({
        sub: request.auth?.sub,
      }),
    );
    app.http.get(
      "/no-exp-ok",
      {
        auth: jwtAuth({
          secret: new TextEncoder().encode(SECRET),
          algorithms: ["HS256"],
          requireExpiry: false,
        }),
      },
      async (request) => ({ sub: request.auth?.sub }),
    );
  });
});

afterAll(async () => {
  await stopAll(apps);
  await new Promise((resolve) => jwks.close(resolve));
});

async function status(path: string, token: string | undefined, scheme = "Bearer") {
  const response = await app.http.server.inject({
    url: path,
    headers: token === undefined ? {} : { authorization: `${scheme} ${token}` },
  });
  if (response.statusCode === 401) {
    expect(response.json()).toEqual(UNAUTHORIZED);
    expect(response.headers["www-authenticate"]).toBe('Bearer realm="weir"');
  }
  return response.statusCode;
}

describe("jwtAuth with a secret", () => {
  it("lets a valid token through over loopback, with its claims on request.auth", async () => {
    const token = await hsToken({ role: "admin" });
    const response = await fetch(`${urlOf(app)}/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: "alice", role: "admin" });
  });

  it("refuses a missing token or another scheme", async () => {
    const response = await fetch(`${urlOf(app)}/me`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="weir"');
    expect(await response.json()).toEqual(UNAUTHORIZED);
    expect(await status("/me", await hsToken(), "Basic")).toBe(401);
    expect(await status("/me", await hsToken(), "Token")).toBe(401);
  });

  it("refuses an expired token and one not yet valid", async () => {
    const expired = await hsToken({}, (jwt) =>
      jwt.setIssuedAt(Math.floor(Date.now() / 1000) - 600).setExpirationTime("-1m"),
    );
    expect(await status("/me", expired)).toBe(401);
    const notYet = await hsToken({}, (jwt) => jwt.setNotBefore("10m"));
    expect(await status("/me", notYet)).toBe(401);
    expect(await status("/me", await hsToken({}, (jwt) => jwt.setNotBefore("-1m")))).toBe(200);
  });

  it("refuses the wrong issuer and the wrong audience", async () => {
    expect(await status("/me", await hsToken({}, (jwt) => jwt.setIssuer("https://evil.test")))).toBe(401);
    expect(await status("/me", await hsToken({}, (jwt) => jwt.setAudience("someone-else")))).toBe(401);
    expect(await status("/me", await hsToken({ iss: undefined }, (jwt) => jwt.setIssuer("")))).toBe(401);
  });

  it("refuses a token without exp unless told otherwise", async () => {
    const noExp = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(new TextEncoder().encode(SECRET));
    expect(await status("/me", noExp)).toBe(401);
    expect(await status("/no-exp-ok", noExp)).toBe(200);
  });

  it("refuses a token signed with another secret, and a tampered payload", async () => {
    expect(await status("/me", await hsToken({}, undefined, "another-secret-also-32-bytes-long!!"))).toBe(
      401,
    );
    const [header, , signature] = (await hsToken({ role: "user" })).split(".");
    const forged = b64url({ sub: "alice", role: "admin", iss: ISSUER, aud: AUDIENCE, exp: 9_999_999_999 });
    expect(await status("/me", `${header}.${forged}.${signature}`)).toBe(401);
  });

  it("refuses alg: none", async () => {
    const claims = { sub: "alice", iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 };
    for (const alg of ["none", "None", "NONE"]) {
      const unsigned = `${b64url({ alg, typ: "JWT" })}.${b64url(claims)}.`;
      expect(await status("/me", unsigned), alg).toBe(401);
      // ...even with a signature part pasted from a real token.
      const signature = (await hsToken()).split(".")[2];
      expect(await status("/me", `${unsigned}${signature}`), alg).toBe(401);
    }
  });

  it("refuses an algorithm outside the list", async () => {
    const hs512 = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "HS512" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(`${SECRET}${SECRET}`));
    expect(await status("/me", hs512)).toBe(401);
  });

  it("refuses garbage of every shape with 401, never a 500", async () => {
    const garbage = [
      "",
      "a",
      "a.b",
      "a.b.c",
      "....",
      `${b64url("not an object")}.${b64url({})}.sig`,
      `${b64url({ alg: "HS256" })}.${Buffer.from("not json").toString("base64url")}.sig`,
      `${b64url({ alg: "HS256", crit: ["exp"] })}.${b64url({})}.c2ln`,
      `${b64url({ alg: "HS256", b64: false, crit: ["b64"] })}.${b64url({})}.c2ln`,
      `${b64url({ alg: "HS256" })}.${b64url({ exp: "soon", nbf: [], iss: 7, aud: {} })}.c2ln`,
      `${b64url({ alg: "HS256" })}.${b64url(null)}.c2ln`,
      `${"x".repeat(9000)}.y.z`,
      "a.b.c d",
      "a.b.c.d.e",
    ];
    for (let i = 0; i < 100; i++) {
      const part = () =>
        Buffer.from(Array.from({ length: 1 + (i % 50) }, () => Math.floor(Math.random() * 256))).toString(
          "base64url",
        );
      garbage.push(`${part()}.${part()}.${part()}`);
    }
    for (const token of garbage) expect(await status("/me", token), token).toBe(401);
  });
});

describe("jwtAuth with a public key", () => {
  const rsToken = (key: KeyPair["privateKey"], kid?: string, claims: JWTPayload = {}) =>
    new SignJWT({ sub: "bob", ...claims })
      .setProtectedHeader({ alg: "RS256", ...(kid !== undefined && { kid }) })
      .setIssuer(ISSUER)
      .setExpirationTime("5m")
      .sign(key);

  it("lets an RS256 token through, refuses one from another key", async () => {
    const response = await fetch(`${urlOf(app)}/rsa`, {
      headers: { authorization: `Bearer ${await rsToken(rsa.privateKey)}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: "bob" });
    expect(await status("/rsa", await rsToken(otherRsa.privateKey))).toBe(401);
  });

  it("refuses an HS256 token signed with the public key as secret (HS/RS confusion)", async () => {
    const forged = await new SignJWT({ sub: "mallory" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ISSUER)
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(publicPem));
    expect(await status("/rsa", forged)).toBe(401);
    expect(await status("/jwks", forged)).toBe(401);
  });

  it("fetches keys from a JWKS URL", async () => {
    const response = await fetch(`${urlOf(app)}/jwks`, {
      headers: { authorization: `Bearer ${await rsToken(rsa.privateKey, "k1")}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: "bob" });
    expect(await status("/jwks", await rsToken(otherRsa.privateKey, "k1"))).toBe(401);
    expect(await status("/jwks", await rsToken(otherRsa.privateKey, "unknown-kid"))).toBe(401);
  });

  it("answers 503, not 401, when the JWKS endpoint is down", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await started(apps, (app) => {
      app.http.get(
        "/",
        { auth: jwtAuth({ jwksUrl: `http://127.0.0.1:${port}/jwks.json`, algorithms: ["RS256"] }) },
        async () => "x",
      );
    });
    const response = await fetch(`${urlOf(down)}/`, {
      headers: { authorization: `Bearer ${await rsToken(rsa.privateKey, "k1")}` },
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      statusCode: 503,
      error: "Service Unavailable",
      message: "Service Unavailable",
    });
  });

  it("answers 503 when the JWKS endpoint answers garbage", async () => {
    let n = 0;
    const answers = [
      [200, "not json"],
      [200, JSON.stringify({ keys: "nope" })],
      [200, JSON.stringify({ keys: [{ kty: "RSA", kid: "k1", alg: "RS256", n: "!!", e: "AQAB" }] })],
      [500, JSON.stringify({ keys: [] })],
    ] as const;
    const broken = createServer((_request, response) => {
      const [status, body] = answers[n++ % answers.length] ?? [500, ""];
      response.statusCode = status;
      response.setHeader("content-type", "application/json");
      response.end(body);
    });
    await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/jwks.json`;
      const token = await rsToken(rsa.privateKey, "k1");
      for (let i = 0; i < answers.length; i++) {
        // A fresh authorizer each time: jose would otherwise wait out its refetch cooldown.
        const auth = jwtAuth({ jwksUrl: url, algorithms: ["RS256"] });
        const local = await started(apps, (app) => app.http.get("/", { auth }, async () => "x"));
        const response = await local.http.server.inject({
          url: "/",
          headers: { authorization: `Bearer ${token}` },
        });
        expect(response.statusCode, `answer ${i}`).toBe(503);
      }
    } finally {
      await new Promise((resolve) => broken.close(resolve));
    }
  });
});

describe("jwtAuth options", () => {
  it("refuses a configuration that could be attacked or could never work", async () => {
    const bad: unknown[] = [
      {},
      { secret: SECRET },
      { secret: SECRET, algorithms: [] },
      { secret: SECRET, algorithms: ["none"] },
      { secret: SECRET, algorithms: ["HS256", "RS256"] },
      { secret: "too short", algorithms: ["HS256"] },
      { secret: SECRET, publicKey: publicPem, algorithms: ["HS256"] },
      { publicKey: publicPem, algorithms: ["HS256"] },
      { publicKey: publicPem, algorithms: ["ES256"] },
      { publicKey: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----", algorithms: ["RS256"] },
      { jwksUrl: "ftp://keys.example/jwks", algorithms: ["RS256"] },
      { jwksUrl: "not a url", algorithms: ["RS256"] },
      { jwksUrl, algorithms: ["HS256"] },
      { secret: SECRET, algorithms: ["HS256"], issuer: [] },
      { secret: SECRET, algorithms: ["HS256"], clockTolerance: -1 },
      { secret: SECRET, algorithms: ["HS256"], audiences: ["typo"] },
    ];
    for (const options of bad) {
      expect(() => jwtAuth(options as never), JSON.stringify(options)).toThrow(InvalidOptionError);
    }
    // A JWK and a KeyObject are public keys too.
    expect(() =>
      jwtAuth({ publicKey: { ...rsa.publicKey, kty: "oct", k: "AAAA" } as never, algorithms: ["RS256"] }),
    ).toThrow(InvalidOptionError);
    expect(() => jwtAuth({ publicKey: globalThis as never as string, algorithms: ["RS256"] })).toThrow(
      InvalidOptionError,
    );
  });

  it("accepts a JWK, a CryptoKey and a KeyObject as the public key", async () => {
    const keys = [await exportJWK(rsa.publicKey), rsa.publicKey, KeyObject.from(rsa.publicKey)];
    const local = await started(apps, (app) => {
      keys.forEach((publicKey, i) => {
        app.http.get(
          `/${i}`,
          { auth: jwtAuth({ publicKey, algorithms: ["RS256"] }) },
          async (request) => request.auth?.sub,
        );
      });
    });
    const token = await new SignJWT({ sub: "carol" })
      .setProtectedHeader({ alg: "RS256" })
      .setExpirationTime("1m")
      .sign(rsa.privateKey);
    const forged = await new SignJWT({ sub: "carol" })
      .setProtectedHeader({ alg: "RS256" })
      .setExpirationTime("1m")
      .sign(otherRsa.privateKey);
    for (let i = 0; i < keys.length; i++) {
      const response = await local.http.server.inject({
        url: `/${i}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.statusCode).toBe(200);
      expect(response.body).toBe("carol");
      const refused = await local.http.server.inject({
        url: `/${i}`,
        headers: { authorization: `Bearer ${forged}` },
      });
      expect(refused.statusCode).toBe(401);
    }
  });
});
