// Input validation against the route's TypeBox schemas. Query strings and path parameters
// arrive as text, so they are converted to the schema's types first; defaults are filled in;
// every violation is reported with its location, e.g. { path: "/body/email", message }.
import { FormatRegistry, type TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { ApiError, type FieldError } from "./errors.ts";

// TypeBox checks only the string formats it is told about; these are the ones the API uses.
FormatRegistry.Set("email", (v) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v));
FormatRegistry.Set(
  "date-time",
  (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(v) && !Number.isNaN(Date.parse(v)),
);

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();
const checker = (schema: TSchema) => {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
};

export type Location = "params" | "query" | "body";

export function validate(location: Location, schema: TSchema, input: unknown): unknown {
  const value = location === "body" ? Value.Clone(input ?? {}) : Value.Convert(schema, { ...(input as object) });
  Value.Default(schema, value);
  const check = checker(schema);
  if (location !== "body") Value.Clean(schema, value);
  const fields: FieldError[] = [];
  if (check.Check(value)) {
    const nul = nulAt(value, `/${location}`);
    if (!nul) return value;
    fields.push({ path: nul, message: "must not contain NUL characters" });
  }
  const seen = new Set<string>();
  for (const error of check.Errors(value)) {
    const path = `/${location}${error.path}`;
    // One message per field: the first is the most specific.
    if (seen.has(path)) continue;
    seen.add(path);
    fields.push({ path, message: fieldMessage(error.schema, error.message) });
  }
  const status = location === "body" ? 422 : 400;
  const summary = fields.map((f) => `${f.path}: ${f.message}`).join("; ");
  throw new ApiError(status, "validation_failed", `Invalid ${location}: ${summary}`, { fields });
}

/** The first string holding a NUL character: PostgreSQL can neither store nor compare such text. */
function nulAt(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value && typeof value === "object")
    for (const [key, item] of Object.entries(value)) {
      const found = nulAt(item, `${path}/${key}`);
      if (found) return found;
    }
  return undefined;
}

/** A schema may say in plain words what it expects ("errorMessage"); otherwise TypeBox's message. */
const fieldMessage = (schema: TSchema, fallback: string) =>
  typeof schema.errorMessage === "string" ? schema.errorMessage : fallback;
