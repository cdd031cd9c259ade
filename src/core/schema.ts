import type { StandardSchemaV1 } from "@standard-schema/spec";
import { InvalidOptionError } from "./errors.js";

/**
 * Validation through Standard Schema v1 (https://standardschema.dev), the interface zod, valibot and
 * arktype implement: weir depends on the interface only, never on a validation library.
 */

export type { StandardSchemaV1 } from "@standard-schema/spec";

/** The body type a schema produces (its output: defaults and transforms applied). */
export type SchemaOutput<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>;

/** One validation problem, flattened for logs and headers: `path` is dotted (`items.0.price`). */
export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/** What `validateWith` returns: the validated value, or why it was refused. */
export type SchemaResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly SchemaIssue[] };

/** True for anything that implements Standard Schema v1. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: { version?: unknown; validate?: unknown } })["~standard"];
  return (
    typeof props === "object" && props !== null && props.version === 1 && typeof props.validate === "function"
  );
}

/**
 * A route's schema as `weir routes` shows it: the Standard Schema's vendor (`zod`, `valibot`, ...),
 * `true` when it names none, undefined without a schema. One wording on every transport.
 */
export function schemaVendor(schema: unknown): string | true | undefined {
  if (schema === undefined) return undefined;
  return (schema as { "~standard"?: { vendor?: string } })["~standard"]?.vendor ?? true;
}

/** Checks a `schema` option once, at registration. */
export function schemaOption(option: string, value: unknown): StandardSchemaV1 | undefined {
  if (value === undefined) return undefined;
  if (!isStandardSchema(value)) {
    throw new InvalidOptionError(
      option,
      "must implement Standard Schema v1 (a zod, valibot or arktype schema, or any object with `~standard.validate`)",
    );
  }
  return value;
}

function pathOf(issue: StandardSchemaV1.Issue): string {
  if (issue.path === undefined || issue.path.length === 0) return "";
  return issue.path
    .map((segment) => String(typeof segment === "object" && segment !== null ? segment.key : segment))
    .join(".");
}

function flatten(issues: readonly StandardSchemaV1.Issue[]): SchemaIssue[] {
  return issues.map((issue) => ({ path: pathOf(issue), message: issue.message }));
}

function toResult<T>(result: StandardSchemaV1.Result<T>): SchemaResult<T> {
  if (result.issues === undefined) return { ok: true, value: result.value };
  return { ok: false, issues: flatten(result.issues) };
}

/**
 * Validates `value`. Synchronous schemas (the usual case) answer synchronously, so a caller can
 * skip an `await` per message; a schema with async refinements answers with a promise. A schema
 * that throws is reported as one issue rather than thrown: a bad body must never crash a consumer.
 */
export function validateWith<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
): SchemaResult<SchemaOutput<S>> | Promise<SchemaResult<SchemaOutput<S>>> {
  let result: StandardSchemaV1.Result<SchemaOutput<S>> | Promise<StandardSchemaV1.Result<SchemaOutput<S>>>;
  try {
    result = schema["~standard"].validate(value) as typeof result;
  } catch (error) {
    return thrown(error);
  }
  if (result instanceof Promise) return result.then(toResult, thrown);
  return toResult(result);
}

function thrown(error: unknown): SchemaResult<never> {
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, issues: [{ path: "", message: `the schema threw: ${message}` }] };
}

/** `"items.0.price: Expected number; name: Required"`, for log lines and error messages. */
export function formatIssues(issues: readonly SchemaIssue[]): string {
  return issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join("; ");
}
