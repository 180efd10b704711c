// The OpenAPI 3.1 document, generated from the route table. TypeBox schemas are JSON Schema
// (2020-12 compatible), which OpenAPI 3.1 embeds as they are.
import type { TSchema } from "@sinclair/typebox";
import type { Route } from "./route.ts";

const ErrorBody = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        fields: {
          type: "array",
          items: {
            type: "object",
            required: ["path", "message"],
            properties: { path: { type: "string" }, message: { type: "string" } },
          },
        },
      },
    },
  },
};

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid parameters, or a body that is not JSON (UTF-8, at most 32 levels deep)",
  401: "Not logged in, or the API key is not valid",
  403: "Not allowed",
  404: "Not found (or not visible to the caller)",
  409: "Conflicts with the current state",
  413: "Body too large",
  415: "The body is not JSON in UTF-8",
  422: "Invalid body; `fields` names each problem",
  429: "Rate limited; see Retry-After",
};

/** TypeBox adds symbols and its own keys; OpenAPI wants plain JSON Schema. */
const plain = (schema: TSchema) => JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;

const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, "{$1}");

function parameters(r: Route) {
  const out: unknown[] = [];
  for (const [location, schema] of [
    ["path", r.params],
    ["query", r.query],
  ] as const) {
    if (!schema) continue;
    const s = plain(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
    for (const [name, prop] of Object.entries(s.properties ?? {})) {
      const { description, ...propSchema } = prop;
      out.push({
        name,
        in: location,
        required: location === "path" || (s.required ?? []).includes(name),
        ...(description ? { description } : {}),
        schema: propSchema,
      });
    }
  }
  return out;
}

function errorStatuses(r: Route): number[] {
  const set = new Set<number>(r.errors ?? []);
  if (r.params || r.query) set.add(400);
  // Bodies: not JSON, too deep or not UTF-8 (http/json-body.ts), too large, or invalid.
  if (r.body) set.add(400).add(413).add(415).add(422);
  // Any route: a malformed or revoked Authorization header is refused before routing.
  set.add(401);
  // Writes: a session's missing CSRF token; routes with a permission: the role lacks it.
  if (r.permission || r.auth === "session" || r.method !== "get") set.add(403);
  if (r.path.includes(":org")) set.add(404);
  // API keys are rate-limited on every route they may call.
  if (r.auth !== "session") set.add(429);
  return [...set].sort();
}

export function openApiDocument(routes: readonly Route[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const operation: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method}${r.path.replace(/[/:{}-]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      tags: [r.tag],
      ...(r.permission ? { "x-atrium-permission": r.permission } : {}),
      security: r.auth === "public" ? [] : r.auth === "session" ? [{ session: [] }] : [{ session: [] }, { apiKey: [] }],
      parameters: parameters(r),
      ...(r.body
        ? { requestBody: { required: true, content: { "application/json": { schema: plain(r.body) } } } }
        : r.rawBody
          ? {
              requestBody: {
                required: true,
                description: r.rawBody.description,
                content: Object.fromEntries(
                  r.rawBody.types.map((t) => [t, { schema: { type: "string", format: "binary" } }]),
                ),
              },
            }
          : {}),
      responses: {
        [String(r.response.status)]: {
          description: r.response.description ?? "OK",
          ...(r.response.schema
            ? {
                content: {
                  "application/json": { schema: plain(r.response.schema) },
                  ...Object.fromEntries(
                    Object.entries(r.response.also ?? {}).map(([t, sc]) => [t, { schema: plain(sc) }]),
                  ),
                },
              }
            : r.response.also
              ? {
                  content: Object.fromEntries(
                    Object.entries(r.response.also).map(([t, sc]) => [t, { schema: plain(sc) }]),
                  ),
                }
              : {}),
        },
        ...Object.fromEntries(
          errorStatuses(r).map((status) => [
            String(status),
            {
              description: ERROR_TEXT[status] ?? "Error",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
            },
          ]),
        ),
      },
    };
    const path = openApiPath(r.path);
    paths[path] = { ...paths[path], [r.method]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Atrium API",
      version: "v1alpha1",
      description: "Organizations, members, roles, API keys and the audit log of an Atrium installation.",
    },
    servers: [{ url: "/" }],
    components: {
      schemas: { Error: ErrorBody },
      securitySchemes: {
        session: { type: "apiKey", in: "cookie", name: "atrium_session" },
        apiKey: { type: "http", scheme: "bearer", description: "atr_sk_… or atr_ai_… API key" },
      },
    },
    paths,
  };
}
