import type { FastifyReply, FastifyRequest, FastifySchema } from "fastify";
import type { RouteTypes } from "../../core/constants.js";
import { InvalidOptionError } from "../../core/errors.js";
import type { RouteRecord } from "../../core/transport.js";
import { knownKeys } from "../../core/validate.js";
import { type Authorizer, isAuthorizer } from "./auth/authorizer.js";

export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
export type HTTPMethod = (typeof HTTP_METHODS)[number];

/** An HTTP route: one handler for every path × method in the route. */
export interface HTTPRouteSpec {
  type: typeof RouteTypes.HTTP;
  /**
   * The methods the handler answers. A GET route also answers HEAD (fastify's `exposeHeadRoutes`).
   * @defaultValue ["GET"]
   */
  methods?: readonly HTTPMethod[];
  /**
   * fastify's JSON schema of the request (`body`, `querystring`, `params`, `headers`) and responses.
   * Invalid input gets a 400 with the reason and never reaches the handler.
   * @defaultValue no validation
   */
  schema?: FastifySchema;
  /**
   * Who may call the route: `basicAuth(...)`, `cachedBasicAuth(...)`, `jwtAuth(...)` or your own
   * `Authorizer`. Refused requests get a 401 before their body is read.
   * @defaultValue open to everyone
   */
  auth?: Authorizer;
}

/**
 * Receives fastify's request and reply. What it returns (or resolves) is the response body, as in
 * fastify: objects are sent as JSON, strings as text; return `reply` after `reply.send()` to send it
 * yourself. Path parameters are `request.params`, authorizer claims `request.auth`.
 */
export type HTTPHandler = (request: FastifyRequest, reply: FastifyReply) => unknown;

/** An HTTP route with its defaults applied and every option checked. */
export interface HTTPRoute {
  /** For logs and health: `GET,POST /a,/b`. */
  readonly name: string;
  readonly paths: readonly string[];
  readonly methods: readonly HTTPMethod[];
  readonly schema: FastifySchema | undefined;
  readonly auth: Authorizer | undefined;
  readonly handler: HTTPHandler;
}

const SPEC_KEYS = ["type", "methods", "schema", "auth"];

function methodsOf(value: unknown): HTTPMethod[] {
  if (value === undefined) return ["GET"];
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidOptionError("methods", `must be a non-empty list of ${HTTP_METHODS.join(", ")}`);
  }
  for (const method of value) {
    if (!(HTTP_METHODS as readonly unknown[]).includes(method)) {
      throw new InvalidOptionError(
        "methods",
        `unknown method ${String(method)} (known: ${HTTP_METHODS.join(", ")})`,
      );
    }
  }
  return [...new Set<HTTPMethod>(value)];
}

/** Checks an HTTP route once, at registration, and applies its defaults. */
export function normalizeHTTPRoute(record: RouteRecord): HTTPRoute {
  const spec = record.spec as HTTPRouteSpec;
  knownKeys("route", spec, SPEC_KEYS);
  for (const path of record.routes) {
    if (!path.startsWith("/"))
      throw new InvalidOptionError("routes", `an HTTP path must start with "/", got ${path}`);
  }
  if (spec.schema !== undefined && (typeof spec.schema !== "object" || spec.schema === null)) {
    throw new InvalidOptionError("schema", "must be a fastify route schema object");
  }
  if (spec.auth !== undefined && !isAuthorizer(spec.auth)) {
    throw new InvalidOptionError("auth", "must be an authorizer such as basicAuth(...) or jwtAuth(...)");
  }
  const methods = methodsOf(spec.methods);
  return {
    name: `${methods.join(",")} ${record.routes.join(",")}`,
    paths: record.routes,
    methods,
    schema: spec.schema,
    auth: spec.auth,
    handler: record.handler as HTTPHandler,
  };
}
