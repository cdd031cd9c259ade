import type { SchemaOutput, StandardSchemaV1 } from "./schema.js";

/**
 * The route types an App knows, and for each what its definition and handler look like, with `T` the
 * body type the handler receives. Each transport adds its entry by declaration merging, the way a
 * fastify plugin extends fastify's types:
 *
 * ```ts
 * declare module "weir" {
 *   interface RouteKinds<T> {
 *     files: { spec: FilesRouteSpec; handler: FilesHandler<T> };
 *   }
 * }
 * ```
 *
 * `app.route` gets one overload per entry (and one more per entry whose spec takes a `schema`,
 * typing the handler from the schema's output), so a new transport's routes are typed without a
 * hand-written overload.
 */
// biome-ignore-start lint/correctness/noUnusedVariables lint/suspicious/noEmptyInterface: an empty registry that transports fill by declaration merging; T is theirs to use
export interface RouteKinds<T> {}
// biome-ignore-end lint/correctness/noUnusedVariables lint/suspicious/noEmptyInterface: see above

/** What one entry of `RouteKinds` holds. */
export interface RouteKind {
  /** The route definition users write, `type` included. */
  readonly spec: { readonly type: string };
  /** The handler such a route calls. */
  readonly handler: unknown;
  /**
   * `true` when the spec's `schema` is a Standard Schema (zod, valibot, arktype) that validates the
   * body: then `app.route` types the handler from the schema's output.
   */
  readonly standardSchema?: true;
}

/** The route types registered so far (`"amqp" | "http" | "sse"` with the built-in transports). */
export type RouteType = keyof RouteKinds<unknown> & string;

type Kind<T, K extends RouteType> = RouteKinds<T>[K] extends RouteKind ? RouteKinds<T>[K] : never;

type UnionToIntersection<U> = (U extends unknown ? (union: U) => void : never) extends (
  intersection: infer I,
) => void
  ? I
  : never;

/** `app.route` for routes without a schema: the body type is `T` (default `unknown`). */
type PlainRoute = UnionToIntersection<
  {
    [K in RouteType]: <T = unknown>(
      routes: readonly string[],
      spec: Kind<T, K> extends { standardSchema: true }
        ? Kind<T, K>["spec"] & { schema?: undefined }
        : Kind<T, K>["spec"],
      handler: Kind<T, K>["handler"],
    ) => Kind<T, K>["handler"];
  }[RouteType]
>;

/** `app.route` for routes with a `schema`: the body type is the schema's output. */
type SchemaRoute = UnionToIntersection<
  {
    [K in RouteType]: Kind<unknown, K> extends { standardSchema: true }
      ? <S extends StandardSchemaV1>(
          routes: readonly string[],
          spec: Omit<Kind<SchemaOutput<S>, K>["spec"], "schema"> & { schema: S },
          handler: Kind<SchemaOutput<S>, K>["handler"],
        ) => Kind<SchemaOutput<S>, K>["handler"]
      : never;
  }[RouteType]
>;

/**
 * `app.route` for a spec typed as a whole (`const spec: AMQPRouteSpec = ...`), whose `schema` may be
 * there or not: the body is `unknown`.
 */
type WideRoute = UnionToIntersection<
  {
    [K in RouteType]: Kind<unknown, K> extends { standardSchema: true }
      ? (
          routes: readonly string[],
          spec: Kind<unknown, K>["spec"],
          handler: Kind<unknown, K>["handler"],
        ) => Kind<unknown, K>["handler"]
      : never;
  }[RouteType]
>;

/**
 * `app.route(routes, spec, handler)`: one overload per registered route type, typed from
 * `RouteKinds`. Returns the handler.
 */
export type RouteMethod = SchemaRoute & PlainRoute & WideRoute;
