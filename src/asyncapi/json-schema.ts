/**
 * JSON Schema out of a route's `schema`. Standard Schema v1 only validates; it says nothing about
 * shape, so weir asks for what the validator can tell, in this order:
 *
 * 1. Standard JSON Schema (`~standard.jsonSchema.input`): zod 4.2+, arktype, and any library that
 *    implements the companion spec (standardschema.dev/json-schema).
 * 2. A `toJsonSchema()` / `toJSONSchema()` method on the schema (arktype, older adapters).
 *
 * The *input* schema is what a producer must send, which is what a message contract describes
 * (a zod `.default()` makes a field optional on the wire). Draft-07 is requested: it is the base
 * of AsyncAPI's own schema format.
 */

type JSONObject = Record<string, unknown>;

function isObject(value: unknown): value is JSONObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function callConverter(convert: () => unknown): JSONObject | undefined {
  try {
    const result = convert();
    return isObject(result) ? result : undefined;
  } catch {
    // A schema the library cannot express (a transform, a custom refinement): no payload schema.
    return undefined;
  }
}

/** The JSON Schema of `schema`'s input, when its library can produce one. */
export function jsonSchemaOf(schema: unknown): JSONObject | undefined {
  if ((typeof schema !== "object" && typeof schema !== "function") || schema === null) return undefined;
  const standard = (schema as { "~standard"?: { jsonSchema?: { input?: unknown } } })["~standard"];
  const input = standard?.jsonSchema?.input;
  if (typeof input === "function") {
    const converted = callConverter(() =>
      (input as (options: { target: string }) => unknown)({ target: "draft-07" }),
    );
    if (converted !== undefined) return converted;
  }
  for (const method of ["toJsonSchema", "toJSONSchema"] as const) {
    const convert = (schema as Record<string, unknown>)[method];
    if (typeof convert === "function") {
      const converted = callConverter(() => (convert as () => unknown).call(schema));
      if (converted !== undefined) return converted;
    }
  }
  return undefined;
}

/**
 * Makes a standalone JSON Schema fit inside an AsyncAPI document as `components.schemas[name]`:
 * its `$ref`s point into its own root (`#`, `#/definitions/x`, `#/$defs/x`), which inside the
 * document would resolve against the document's root. Definitions become sibling component
 * schemas (`<name>.<x>`) and references are rewritten to them; `$schema` and `$id` are dropped.
 */
export function componentSchemas(name: string, schema: JSONObject): Record<string, JSONObject> {
  const base = `#/components/schemas/`;
  const definitions: Record<string, JSONObject> = {};
  const lifted: Record<string, JSONObject> = {};
  for (const key of ["definitions", "$defs"] as const) {
    const defs = schema[key];
    if (!isObject(defs)) continue;
    for (const [defName, def] of Object.entries(defs))
      if (isObject(def)) definitions[`${key}/${defName}`] = def;
  }
  const rewrite = (ref: string): string => {
    if (ref === "#") return `${base}${name}`;
    for (const prefix of ["#/definitions/", "#/$defs/"]) {
      if (ref.startsWith(prefix))
        return `${base}${name}.${safeName(decodeURIComponent(ref.slice(prefix.length)))}`;
    }
    return ref;
  };
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!isObject(value)) return value;
    const out: JSONObject = {};
    for (const [key, child] of Object.entries(value)) {
      if (key === "$schema" || key === "$id" || key === "definitions" || key === "$defs") continue;
      out[key] = key === "$ref" && typeof child === "string" ? rewrite(child) : walk(child);
    }
    return out;
  };
  for (const [path, def] of Object.entries(definitions)) {
    const defName = path.slice(path.indexOf("/") + 1);
    lifted[`${name}.${safeName(defName)}`] = walk(def) as JSONObject;
  }
  return { [name]: walk(schema) as JSONObject, ...lifted };
}

/** AsyncAPI component keys must match `^[\w\d.\-_]+$`. */
export function safeName(value: string): string {
  const cleaned = value.replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "");
  return cleaned === "" ? "root" : cleaned;
}
