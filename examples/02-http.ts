/**
 * HTTP routes on weir's fastify server: an open greeting, a validated JSON endpoint, an admin route
 * behind basic auth and a "who am I" route behind a JWT.
 *
 * Run it with `npx tsx examples/02-http.ts` (or `weir run examples/02-http.ts`; 127.0.0.1:8080, or
 * WEIR_HTTP_HOST / WEIR_HTTP_PORT) and stop it with Ctrl-C: in-flight requests finish first. Then try:
 *
 *   curl http://127.0.0.1:8080/hello
 *   curl -X POST -H 'content-type: application/json' -d '{"sku":"tea","quantity":2}' http://127.0.0.1:8080/orders
 *   curl -X POST -H 'content-type: application/json' -d '{"sku":"tea"}' http://127.0.0.1:8080/orders   # 400
 *   curl -u admin:change-me http://127.0.0.1:8080/admin/orders
 *   curl -H "authorization: Bearer $TOKEN" http://127.0.0.1:8080/me   # $TOKEN: see the start-up log
 *
 * In production the password hash and the JWT secret come from the environment
 * (ADMIN_PASSWORD_HASH, made once with `hashPassword`, and JWT_SECRET); the demo makes its own.
 */
import { SignJWT } from "jose";
import { App, basicAuth, hashPassword, isMainModule, jwtAuth, RouteTypes } from "../src/index.js";

interface Order {
  sku: string;
  quantity: number;
}

const ISSUER = "https://id.example.test";
const AUDIENCE = "weir-example";
const JWT_SECRET = process.env.JWT_SECRET ?? "demo-secret-that-is-at-least-32-bytes-long";

export const app = new App({ name: "http-example" });
const orders: Order[] = [];

app.route(["/", "/hello"], { type: RouteTypes.HTTP, methods: ["GET"] }, async () => "Hello world\n");

app.http.post(
  "/orders",
  {
    schema: {
      body: {
        type: "object",
        required: ["sku", "quantity"],
        additionalProperties: false,
        properties: { sku: { type: "string", minLength: 1 }, quantity: { type: "integer", minimum: 1 } },
      },
    },
  },
  async (request, reply) => {
    const order = request.body as Order;
    orders.push(order);
    reply.code(201);
    return { id: orders.length, ...order };
  },
);

app.http.get(
  "/orders/:id",
  { schema: { params: { type: "object", properties: { id: { type: "integer", minimum: 1 } } } } },
  async (request, reply) => {
    const { id } = request.params as { id: number };
    const order = orders[id - 1];
    if (order === undefined)
      return reply.code(404).send({ statusCode: 404, error: "Not Found", message: "no such order" });
    return { id, ...order };
  },
);

const adminHash = process.env.ADMIN_PASSWORD_HASH ?? (await hashPassword("change-me"));
app.http.get(
  "/admin/orders",
  { auth: basicAuth({ users: { admin: adminHash }, realm: "admin" }) },
  async (request) => ({
    admin: request.auth?.sub,
    orders,
  }),
);

app.route(
  ["/me"],
  {
    type: RouteTypes.HTTP,
    methods: ["GET"],
    auth: jwtAuth({ secret: JWT_SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
  },
  async (request) => ({ user: request.auth?.sub, scope: request.auth?.scope }),
);

app.onStartup(async (app) => {
  // A token for trying /me, signed the way an identity provider would sign it.
  const token = await new SignJWT({ sub: "alice", scope: "orders:read" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(JWT_SECRET));
  app.logger.info({ token }, "demo bearer token for /me (valid 1 h)");
});

if (isMainModule(import.meta.url)) await app.run();
