import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheKey, entryBytes, ForwardAuth } from "./forward-auth.ts";

function fakeApi(answers: number[]) {
  const calls: Array<{ url: string; headers: Record<string, string> }> = [];
  const fetch = (async (url: string, init: { headers: Record<string, string> }) => {
    calls.push({ url, headers: init.headers });
    const status = answers.shift() ?? 204;
    if (status === 0) throw new Error("connection refused");
    return new Response(null, { status, headers: status === 204 ? { "x-atrium-user": "a@x.example" } : {} });
  }) as unknown as typeof globalThis.fetch;
  return { calls, fetch };
}

describe("ForwardAuth", () => {
  it("asks the API once per caller and app within the cache time", async () => {
    let now = 0;
    const api = fakeApi([204, 403]);
    const auth = new ForwardAuth({
      url: "http://api/",
      cacheMs: 5000,
      timeoutMs: 100,
      now: () => now,
      fetch: api.fetch,
    });
    const headers = { cookie: "atrium_session=s1", authorization: undefined };
    const answers = await Promise.all([auth.check("acme", "wiki", headers), auth.check("acme", "wiki", headers)]);
    expect(answers).toEqual([
      { status: 204, user: "a@x.example" },
      { status: 204, user: "a@x.example" },
    ]);
    expect(api.calls).toEqual([
      { url: "http://api/api/forward-auth/acme/wiki", headers: { cookie: "atrium_session=s1" } },
    ]);
    now = 4999;
    await auth.check("acme", "wiki", headers);
    expect(api.calls).toHaveLength(1);
    now = 5000;
    expect(await auth.check("acme", "wiki", headers)).toEqual({ status: 403 });
    expect(api.calls).toHaveLength(2);
  });

  it("keeps callers and apps apart, and never caches an unreachable API", async () => {
    const api = fakeApi([204, 401, 0, 204]);
    const auth = new ForwardAuth({ url: "http://api", cacheMs: 5000, timeoutMs: 100, fetch: api.fetch });
    expect((await auth.check("acme", "wiki", { cookie: "atrium_session=a" })).status).toBe(204);
    expect((await auth.check("acme", "wiki", { cookie: "atrium_session=b" })).status).toBe(401);
    expect((await auth.check("acme", "chat", { cookie: "atrium_session=a" })).status).toBe(502);
    expect((await auth.check("acme", "chat", { cookie: "atrium_session=a" })).status).toBe(204);
  });
});

describe("ForwardAuth sends and keeps Atrium's credentials only", () => {
  // A real HTTP server in the API's place: what the gateway sends is what arrives on the wire.
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(204, { "x-atrium-user": "a@x.example" }).end();
  });
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it("sends the session cookie by name and an atr_ key, never the app's cookies or Authorization", async () => {
    const auth = new ForwardAuth({ url, cacheMs: 5000, timeoutMs: 1000 });
    seen.length = 0;
    const cookie = "theme=dark; atrium_session=s1; app_sid=app-secret; atrium_csrf=c";
    expect(await auth.check("acme", "wiki", { cookie, authorization: "Basic YXBwOnB3" })).toEqual({
      status: 204,
      user: "a@x.example",
    });
    await auth.check("acme", "chat", { cookie: "app_sid=x", authorization: "Bearer atr_sk_abcdefghijkl_secret" });
    expect(seen.map((h) => [h.cookie, h.authorization])).toEqual([
      ["atrium_session=s1", undefined],
      [undefined, "Bearer atr_sk_abcdefghijkl_secret"],
    ]);
  });

  it("answers 401 without asking when a request carries no Atrium credentials", async () => {
    const auth = new ForwardAuth({ url, cacheMs: 5000, timeoutMs: 1000 });
    seen.length = 0;
    const anonymous = [
      {},
      { cookie: "app_sid=app-secret; theme=dark" },
      { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.app.token" },
      { cookie: "atrium_csrf=c", authorization: "Basic YXBwOnB3" },
    ];
    for (const headers of anonymous) expect(await auth.check("acme", "wiki", headers)).toEqual({ status: 401 });
    expect(seen).toEqual([]);
  });

  it("keys the cache by a hash of the credentials and the app, and ignores the app's cookies", async () => {
    const auth = new ForwardAuth({ url, cacheMs: 5000, timeoutMs: 1000 });
    seen.length = 0;
    await auth.check("acme", "wiki", { cookie: "atrium_session=sess-secret-1; app=1" });
    await auth.check("acme", "wiki", { cookie: "app=2; atrium_session=sess-secret-1; other=3" });
    expect(seen).toHaveLength(1); // the app's cookies changed, the caller did not
    await auth.check("acme", "wiki", { authorization: "Bearer atr_sk_abcdefghijkl_key-secret" });
    const keys = [...(Reflect.get(auth, "cache") as Map<string, unknown>).keys()];
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/); // SHA-256, base64url
      expect(k).not.toContain("secret");
    }
    const c = { session: "sess-secret-1" };
    expect(cacheKey("acme", "wiki", c)).toBe(keys[0]);
    expect(
      new Set([
        cacheKey("acme", "chat", c),
        cacheKey("acme2", "wiki", c),
        cacheKey("acme", "wiki", { key: "sess-secret-1" }),
      ]).size,
    ).toBe(3);
  });
});

describe("ForwardAuth cache lifetimes and size", () => {
  it("keeps a refusal briefly (2 s by default) and a grant for the cache time", async () => {
    let now = 0;
    const api = fakeApi([401, 204, 403, 404, 204]);
    const auth = new ForwardAuth({
      url: "http://api",
      cacheMs: 5000,
      timeoutMs: 100,
      now: () => now,
      fetch: api.fetch,
    });
    const me = { cookie: "atrium_session=s1" };
    expect((await auth.check("acme", "wiki", me)).status).toBe(401);
    now = 1999;
    expect((await auth.check("acme", "wiki", me)).status).toBe(401);
    expect(api.calls).toHaveLength(1);
    now = 2000; // logged in meanwhile: asked again
    expect((await auth.check("acme", "wiki", me)).status).toBe(204);
    now = 6999;
    expect((await auth.check("acme", "wiki", me)).status).toBe(204);
    expect(api.calls).toHaveLength(2);
    // 403 and 404 are refusals too.
    expect((await auth.check("acme", "a", me)).status).toBe(403);
    expect((await auth.check("acme", "b", me)).status).toBe(404);
    now = 8998;
    await auth.check("acme", "a", me);
    await auth.check("acme", "b", me);
    expect(api.calls).toHaveLength(4);
    now = 8999;
    expect((await auth.check("acme", "a", me)).status).toBe(204);
    expect(api.calls).toHaveLength(5);
  });

  it("takes the refusal time from its option, and caches no other answer", async () => {
    let now = 0;
    const api = fakeApi([403, 429, 400, 204]);
    const auth = new ForwardAuth({
      url: "http://api",
      cacheMs: 5000,
      refusalCacheMs: 100,
      timeoutMs: 100,
      now: () => now,
      fetch: api.fetch,
    });
    const me = { cookie: "atrium_session=s1" };
    expect((await auth.check("acme", "wiki", me)).status).toBe(403);
    now = 100;
    expect((await auth.check("acme", "wiki", me)).status).toBe(429);
    expect((await auth.check("acme", "wiki", me)).status).toBe(400);
    expect((await auth.check("acme", "wiki", me)).status).toBe(204);
    expect(api.calls).toHaveLength(4);
  });

  it("stays within its byte bound, the oldest answers going first", async () => {
    const api = fakeApi([]);
    const one = entryBytes(cacheKey("acme", "wiki", { session: "s0" }), { status: 204, user: "a@x.example" });
    const auth = new ForwardAuth({
      url: "http://api",
      cacheMs: 60_000,
      maxCacheBytes: 3 * one,
      timeoutMs: 100,
      fetch: api.fetch,
    });
    for (let i = 0; i < 10; i++) {
      await auth.check("acme", "wiki", { cookie: `atrium_session=s${i}` });
      expect(auth.bytes).toBeLessThanOrEqual(3 * one);
    }
    expect(auth.bytes).toBe(3 * one);
    expect(api.calls).toHaveLength(10);
    // The three newest are kept, the oldest were evicted and are asked again.
    for (const i of [7, 8, 9]) await auth.check("acme", "wiki", { cookie: `atrium_session=s${i}` });
    expect(api.calls).toHaveLength(10);
    await auth.check("acme", "wiki", { cookie: "atrium_session=s0" });
    expect(api.calls).toHaveLength(11);
  });

  it("counts the bytes of users' names, and keeps nothing with a bound of 0", async () => {
    const api = fakeApi([]);
    const auth = new ForwardAuth({
      url: "http://api",
      cacheMs: 60_000,
      maxCacheBytes: 0,
      timeoutMs: 100,
      fetch: api.fetch,
    });
    await auth.check("acme", "wiki", { cookie: "atrium_session=s1" });
    await auth.check("acme", "wiki", { cookie: "atrium_session=s1" });
    expect([auth.bytes, api.calls.length]).toEqual([0, 2]);
    expect(entryBytes("k", { status: 204, user: "a".repeat(100) }) - entryBytes("k", { status: 204 })).toBe(200);
  });
});
