import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../db/index.ts";
import { limiterFor, parseLimit, RateLimiter, SharedRateLimiter } from "./ratelimit.ts";

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

// The shared store on a SQLite file (the statement is the same on PostgreSQL, where
// test/integration/api-concurrency.test.ts runs it under two API replicas).
describe("SharedRateLimiter", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrium-ratelimit-test-"));
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase(`file:${join(dir, "atrium.db")}`);
  });
  afterAll(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("holds one limit for two replicas: the sum of what both allow is the limit", async () => {
    let now = 1_000_000;
    const [a, b] = [new SharedRateLimiter(db, { now: () => now }), new SharedRateLimiter(db, { now: () => now })];
    const limit = { limit: 3, windowMs: 3000 };
    const results = [];
    for (const replica of [a, b, a, b]) results.push(await replica.take("k", limit));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect(results[3]?.retryAfterS).toBe(1);
    now += 1000; // one token back, for whichever replica asks first
    expect((await b.take("k", limit)).allowed).toBe(true);
    expect((await a.take("k", limit)).allowed).toBe(false);
    expect((await a.take("other", limit)).allowed).toBe(true);
  });

  it("answers like the in-memory limiter, request by request", async () => {
    let now = 5_000_000;
    const shared = new SharedRateLimiter(db, { now: () => now });
    const memory = new RateLimiter(() => now);
    const limit = { limit: 7, windowMs: 60_000 }; // an interval that is not a whole number of ms
    for (const step of [0, 0, 0, 0, 0, 0, 0, 0, 0, 4000, 5000, 9000, 0, 0, 61_000, 0]) {
      now += step;
      expect(await shared.take("same", limit)).toEqual(memory.take("same", limit));
    }
  });

  it("refuses without a database round trip once it has seen the bucket empty", async () => {
    const now = 9_000_000;
    const replica = new SharedRateLimiter(db, { now: () => now });
    const limit = { limit: 2, windowMs: 60_000 };
    for (let i = 0; i < 3; i++) await replica.take("fast", limit);
    const queries = replica.queries;
    const refused = await replica.take("fast", limit);
    expect(refused).toMatchObject({ allowed: false, retryAfterS: 30 });
    expect(replica.queries).toBe(queries);
  });

  it("lets many concurrent requests through exactly up to the limit", async () => {
    const now = 12_000_000;
    const replicas = [new SharedRateLimiter(db, { now: () => now }), new SharedRateLimiter(db, { now: () => now })];
    const limit = { limit: 5, windowMs: 60_000 };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]?.take("burst", limit)));
    expect(results.filter((r) => r?.allowed).length).toBe(5);
  });

  it("deletes buckets that are full again", async () => {
    let now = 20_000_000;
    const replica = new SharedRateLimiter(db, { now: () => now, sweepEveryMs: 1000 });
    await replica.take("stale", { limit: 1, windowMs: 1000 });
    expect(await db.prisma.rateBucket.count({ where: { key: { startsWith: "stale|" } } })).toBe(1);
    now += 120_000;
    await replica.take("fresh", { limit: 1, windowMs: 1000 });
    await until(async () => (await db.prisma.rateBucket.count({ where: { key: { startsWith: "stale|" } } })) === 0);
  });

  it("limits per replica, with a warning, while the database fails", async () => {
    const broken = await openDatabase(`file:${join(dir, "broken.db")}`);
    await broken.prisma.$executeRawUnsafe('DROP TABLE "RateBucket"'); // every statement now fails
    const warnings: string[] = [];
    const replica = new SharedRateLimiter(broken, { log: (m, _f, level) => warnings.push(`${level}: ${m}`) });
    const limit = { limit: 2, windowMs: 60_000 };
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await replica.take("down", limit)).allowed);
    expect(results).toEqual([true, true, false]);
    expect(warnings).toEqual([expect.stringMatching(/^warn: Shared rate limits unavailable/)]);
    await broken.close();
  });

  it("chooses the shared store for PostgreSQL only", () => {
    expect(limiterFor({ ...db, provider: "postgresql" })).toBeInstanceOf(SharedRateLimiter);
    expect(limiterFor(db)).toBeInstanceOf(RateLimiter);
  });
});

async function until(check: () => Promise<boolean>) {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await check()).toBe(true);
}
