import { describe, expect, it } from "vitest";
import { ForwardAuth } from "./forward-auth.ts";

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
