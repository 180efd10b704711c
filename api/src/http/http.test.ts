import { Type } from "@sinclair/typebox";
import express from "express";
import { describe, expect, it } from "vitest";
import { ApiError, errorMiddleware } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { mount, route } from "./route.ts";
import { validate } from "./validate.ts";

const Body = Type.Object(
  {
    email: Type.String({ format: "email", errorMessage: "must be an email address" }),
    n: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
const Query = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 5 })) });

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return e;
  }
  throw new Error("expected an ApiError");
};

describe("validate", () => {
  it("reports every bad field once, with its path and a plain message", () => {
    const e = failure(() => validate("body", Body, { email: "nope", n: 0, extra: true }));
    expect(e.status).toBe(422);
    expect(e.fields).toEqual(
      expect.arrayContaining([
        { path: "/body/email", message: "must be an email address" },
        { path: "/body/n", message: expect.stringContaining("1") },
        { path: "/body/extra", message: "Unexpected property" },
      ]),
    );
    expect(e.fields).toHaveLength(3);
  });

  it("answers a query asked again like the first time, refusing it as before, and never shares the result", () => {
    const first = validate("query", Query, { limit: "7" }) as { limit: number };
    first.limit = 99; // a handler changing what it was given
    expect(validate("query", Query, { limit: "7" })).toEqual({ limit: 7 });
    expect(validate("query", Query, { limit: "7" })).not.toBe(validate("query", Query, { limit: "7" }));
    expect(failure(() => validate("query", Query, { limit: "70" })).status).toBe(400);
    expect(failure(() => validate("query", Query, { limit: "70" })).status).toBe(400);
    expect(validate("query", Query, {})).toEqual({ limit: 5 });
  });

  it("converts query text to numbers, fills defaults, and refuses out-of-range values", () => {
    expect(validate("query", Query, {})).toEqual({ limit: 5 });
    expect(validate("query", Query, { limit: "7" })).toEqual({ limit: 7 });
    const e = failure(() => validate("query", Query, { limit: "70" }));
    expect(e.status).toBe(400);
    expect(e.fields?.[0]?.path).toBe("/query/limit");
  });
});

describe("openApiDocument", () => {
  const routes = [
    route({
      method: "post",
      path: "/api/orgs/:org/things",
      summary: "Make a thing",
      tag: "things",
      auth: "session",
      permission: "apps:install",
      params: Type.Object({ org: Type.String() }),
      query: Query,
      body: Body,
      response: { status: 201, schema: Type.Object({ id: Type.String() }) },
      handler: async () => ({ id: "x" }),
    }),
  ];
  const doc = openApiDocument(routes);
  const op = (doc.paths["/api/orgs/{org}/things"] as Record<string, any>).post;

  it("turns the route table into OpenAPI 3.1 operations", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(op.parameters.map((p: any) => [p.in, p.name, p.required])).toEqual([
      ["path", "org", true],
      ["query", "limit", false],
    ]);
    expect(op.requestBody.content["application/json"].schema.required).toEqual(["email", "n"]);
    expect(Object.keys(op.responses)).toEqual(["201", "400", "401", "403", "404", "413", "415", "422"]);
    expect(op.security).toEqual([{ session: [] }]);
    expect(op["x-atrium-permission"]).toBe("apps:install");
  });
});

describe("mount", () => {
  it("answers a known path's other methods with 405 and Allow, and unknown paths fall through", async () => {
    const ok = { status: 200, schema: Type.Object({ ok: Type.Boolean() }) };
    const handler = async () => ({ ok: true });
    const table = [
      route({ method: "get", path: "/api/things", summary: "List", tag: "t", auth: "public", response: ok, handler }),
      route({ method: "post", path: "/api/things", summary: "Add", tag: "t", auth: "public", response: ok, handler }),
    ];
    const app = express();
    const router = express.Router();
    mount(router, table, { actorIn: () => undefined, audit: () => undefined });
    app.use(router);
    app.use((_req, res) => void res.status(404).end());
    app.use(errorMiddleware(() => undefined));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect((await fetch(`${base}/api/things`)).status).toBe(200);
      expect((await fetch(`${base}/api/things`, { method: "HEAD" })).status).toBe(200);
      const refused = await fetch(`${base}/api/things`, { method: "DELETE" });
      expect(refused.status).toBe(405);
      expect(refused.headers.get("allow")).toBe("GET, POST, HEAD");
      expect(await refused.json()).toEqual({
        error: { code: "method_not_allowed", message: "DELETE is not allowed here; use GET, POST, HEAD" },
      });
      const options = await fetch(`${base}/api/things`, { method: "OPTIONS" });
      expect(options.status).toBe(200);
      expect(options.headers.get("allow")).toContain("POST");
      expect((await fetch(`${base}/api/other`, { method: "DELETE" })).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
