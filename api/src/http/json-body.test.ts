// JSON bodies through a real HTTP server, as the API mounts its routes: the parser, the route
// table's validation and the error middleware.
import type { AddressInfo } from "node:net";
import { Type } from "@sinclair/typebox";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorMiddleware } from "./errors.ts";
import { jsonBody, MAX_JSON_DEPTH, nestsDeeperThan } from "./json-body.ts";
import { mount, route } from "./route.ts";

const stored: unknown[] = [];
let base = "";
let close = () => {};

beforeAll(async () => {
  const app = express();
  app.use("/api", jsonBody("256kb"));
  const router = express.Router();
  mount(
    router,
    [
      route({
        method: "post",
        path: "/api/members",
        summary: "Store a member",
        tag: "test",
        auth: "public",
        body: Type.Object({ email: Type.String({ format: "email" }), tags: Type.Optional(Type.Array(Type.Unknown())) }),
        response: { status: 201, schema: null },
        handler: async ({ body }) => {
          stored.push(body);
        },
      }),
    ],
    { actorIn: () => undefined, audit: () => {} },
  );
  app.use(router);
  app.use(errorMiddleware(() => {}));
  const server = await new Promise<import("node:http").Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close());

const post = async (body: string | Uint8Array, contentType = "application/json") => {
  const res = await fetch(`${base}/api/members`, { method: "POST", headers: { "content-type": contentType }, body });
  const text = await res.text();
  return { status: res.status, error: text ? JSON.parse(text).error : undefined };
};

describe("JSON request bodies", () => {
  it("refuses 5,000 levels of nesting with a 400 (was a 500: a RangeError in schema cloning)", async () => {
    const deep = `{"email":"a@b.example","tags":${"[".repeat(5000)}${"]".repeat(5000)}}`;
    stored.length = 0;
    expect(await post(deep)).toEqual({
      status: 400,
      error: {
        code: "invalid_json",
        message: `The body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
      },
    });
    expect(stored).toEqual([]);
    // At the limit it is the schema's business (accepted here).
    const ok = `{"email":"a@b.example","tags":${"[".repeat(MAX_JSON_DEPTH - 1)}${"]".repeat(MAX_JSON_DEPTH - 1)}}`;
    expect((await post(ok)).status).toBe(201);
  });

  it("refuses invalid UTF-8 with a 400 instead of storing U+FFFD", async () => {
    stored.length = 0;
    const bytes = Buffer.concat([Buffer.from('{"email":"u8'), Buffer.from([0xff]), Buffer.from('@x.example"}')]);
    expect(await post(bytes)).toEqual({
      status: 400,
      error: { code: "invalid_json", message: "The body is not valid UTF-8" },
    });
    // An overlong encoding of "/" and a lone surrogate half are malformed too.
    expect((await post(Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]))).status).toBe(400);
    expect((await post(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).status).toBe(400);
    expect(stored).toEqual([]);
    // Real UTF-8 is taken as sent.
    expect((await post('{"email":"zoë@café.example"}')).status).toBe(201);
    expect(stored).toEqual([{ email: "zoë@café.example" }]);
  });

  it("takes JSON in UTF-8 only, and still answers malformed JSON with a 400", async () => {
    const utf16 = Buffer.from('{"email":"a@b.example"}', "utf16le");
    expect((await post(utf16, "application/json; charset=utf-16le")).status).toBe(415);
    expect(await post('{"email":')).toEqual({
      status: 400,
      error: { code: "invalid_request", message: "The body is not valid JSON" },
    });
  });
});

describe("nestsDeeperThan", () => {
  const deeper = (text: string, max: number) => nestsDeeperThan(Buffer.from(text), max);
  it("counts arrays and objects, not brackets inside strings or escaped quotes", () => {
    expect(deeper('[{"a":[1]}]', 3)).toBe(false);
    expect(deeper('[{"a":[1]}]', 2)).toBe(true);
    expect(deeper('["[[[[", "\\"[[[["]', 1)).toBe(false);
    expect(deeper("[[],[],[]]", 2)).toBe(false);
  });
});
