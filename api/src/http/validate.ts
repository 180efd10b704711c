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

/**
 * Valid query strings and path parameters, converted, per schema: the same few searches and
 * pages are asked again and again, and TypeBox's Convert, Default and Clean walk the schema
 * each time (about an eighth of a marketplace search, profiled). The result depends only on
 * the schema and the text, so a valid one is reused; invalid input is never kept (it is
 * checked again, for its field errors). Bounded per schema; a full map starts over.
 */
const validText = new WeakMap<TSchema, Map<string, Record<string, unknown>>>();
const VALID_TEXTS_PER_SCHEMA = 1000;

/** The key of flat text input (what Express parses a query string or a path into), else undefined. */
function textKey(input: unknown): string | undefined {
  if (!input || typeof input !== "object") return undefined;
  let key = "";
  for (const [name, value] of Object.entries(input)) {
    if (typeof value !== "string") return undefined; // repeated or nested: not kept
    key += `${name.length}:${name}${value.length}:${value}`; // length-prefixed: unambiguous
  }
  return key;
}

export function validate(location: Location, schema: TSchema, input: unknown): unknown {
  if (location === "body") return validateOnce(location, schema, input);
  const key = textKey(input);
  if (key === undefined) return validateOnce(location, schema, input);
  let valid = validText.get(schema);
  const kept = valid?.get(key);
  // A copy: a handler may change what it was given.
  if (kept) return { ...kept };
  const value = validateOnce(location, schema, input) as Record<string, unknown>;
  if (Object.values(value).some((v) => v !== null && typeof v === "object")) return value;
  if (!valid) {
    valid = new Map();
    validText.set(schema, valid);
  }
  if (valid.size >= VALID_TEXTS_PER_SCHEMA) valid.clear();
  valid.set(key, { ...value });
  return value;
}

function validateOnce(location: Location, schema: TSchema, input: unknown): unknown {
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
