import { describe, expect, it } from "vitest";
import { parseLimit, RateLimiter } from "./ratelimit.ts";

describe("RateLimiter", () => {
  it("allows the limit, then refuses with a Retry-After until tokens refill", () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    const limit = { limit: 3, windowMs: 3000 };
    const results = Array.from({ length: 4 }, () => limiter.take("k", limit));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[3]?.retryAfterS).toBe(1);
    expect(results[2]?.remaining).toBe(0);
    now = 1000;
    expect(limiter.take("k", limit).allowed).toBe(true);
    expect(limiter.take("k", limit).allowed).toBe(false);
    expect(limiter.take("other", limit).allowed).toBe(true);
  });

  it("parses rates and refuses nonsense", () => {
    expect(parseLimit("600/1m")).toEqual({ limit: 600, windowMs: 60_000 });
    expect(parseLimit("30/1h")).toEqual({ limit: 30, windowMs: 3_600_000 });
    expect(() => parseLimit("fast")).toThrow(/600\/60s/);
    expect(() => parseLimit("0/1s")).toThrow(/at least 1/);
  });
});
