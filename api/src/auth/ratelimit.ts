// Rate limits: `limit` requests per `windowMs`, refilled continuously, per key (an API key, an
// org's invitations). Two stores, one arithmetic (a token bucket of `limit` tokens):
//
// - RateLimiter keeps the buckets in this process. Right for SQLite installs, which run one
//   API replica.
// - SharedRateLimiter keeps them in PostgreSQL, so the limit holds for the whole installation
//   however many replicas serve a client (ADR 0010). One statement per request: an atomic
//   upsert of the bucket's GCRA state (the "theoretical arrival time", `tat`; the bucket is
//   full again at `tat`), which only succeeds while the bucket has a token. A refusal the
//   replica can already prove from what it saw last is answered without the database.
import { errorMessage, type Logger } from "@atrium/kube";
import type { Database } from "../db/index.ts";

export type Limit = { limit: number; windowMs: number };
export type Decision = { allowed: boolean; limit: number; remaining: number; resetS: number; retryAfterS: number };

/** What the routes use: either store. */
export type Limiter = { take(key: string, limit: Limit): Decision | Promise<Decision> };

export class RateLimiter implements Limiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; limit: number; rate: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  take(key: string, { limit, windowMs }: Limit): Decision {
    const now = this.now();
    const rate = limit / windowMs;
    const b = this.buckets.get(key) ?? { tokens: limit, at: now, limit, rate };
    b.tokens = Math.min(limit, b.tokens + (now - b.at) * rate);
    b.at = now;
    b.limit = limit;
    b.rate = rate;
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > 100_000) this.sweep(now);
    const missing = Math.max(0, 1 - b.tokens);
    return {
      allowed,
      limit,
      remaining: Math.floor(b.tokens),
      resetS: Math.ceil((limit - b.tokens) / rate / 1000),
      retryAfterS: allowed ? 0 : Math.max(1, Math.ceil(missing / rate / 1000)),
    };
  }

  /** Buckets that have refilled carry no state worth keeping. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) if (b.tokens + (now - b.at) * b.rate >= b.limit) this.buckets.delete(key);
  }
}

// ---- GCRA: the same token bucket as one number per key, so one SQL statement updates it. ----

/** Sums of fractional intervals drift by a few ulps; this keeps the last token of a window. */
const SLACK_MS = 0.01;

/** The time one token stands for. */
const intervalOf = ({ limit, windowMs }: Limit) => windowMs / limit;

/** May one more request pass, given the bucket's `tat` (full again at that moment)? */
export const conforms = (tat: number, now: number, limit: Limit) =>
  Math.max(tat, now) + intervalOf(limit) - now <= limit.windowMs + SLACK_MS;

/** The answer for a bucket whose `tat` is known: after the take if allowed, as it stands if not. */
export function gcraDecision(tat: number, now: number, limit: Limit, allowed: boolean): Decision {
  const interval = intervalOf(limit);
  const ahead = Math.max(0, tat - now); // how far the bucket is from full
  return {
    allowed,
    limit: limit.limit,
    remaining: Math.max(0, Math.floor((limit.windowMs - ahead + SLACK_MS) / interval)),
    resetS: Math.ceil(ahead / 1000),
    retryAfterS: allowed ? 0 : Math.max(1, Math.ceil((ahead + interval - limit.windowMs) / 1000)),
  };
}

/** A bucket per limiter, subject and policy: a changed policy starts afresh, as in memory. */
export const bucketKey = (key: string, { limit, windowMs }: Limit) => `${key}|${limit}/${windowMs}`;

export type SharedOptions = {
  now?: () => number;
  log?: Logger;
  /** How often a replica deletes full buckets (any replica may; the delete is idempotent). */
  sweepEveryMs?: number;
};

export class SharedRateLimiter implements Limiter {
  private readonly db: Database;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly sweepEveryMs: number;
  /** bucket → the highest `tat` this replica saw: a lower bound of the shared one (it only grows). */
  private readonly seen = new Map<string, number>();
  /** While the database fails, each replica limits on its own rather than failing requests. */
  private readonly fallback: RateLimiter;
  private lastSweep: number;
  private lastFailureLog = 0;
  /** Database round trips, for tests of the fast path. */
  queries = 0;

  constructor(db: Database, options: SharedOptions = {}) {
    this.db = db;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.sweepEveryMs = options.sweepEveryMs ?? 10 * 60_000;
    this.fallback = new RateLimiter(this.now);
    this.lastSweep = this.now();
  }

  async take(key: string, limit: Limit): Promise<Decision> {
    const now = this.now();
    const bucket = bucketKey(key, limit);
    const known = this.seen.get(bucket);
    // The shared tat is at least `known`, so a refusal by `known` is a refusal by the database.
    if (known !== undefined && !conforms(known, now, limit)) return gcraDecision(known, now, limit, false);
    let tat: number | undefined;
    let allowed: boolean;
    try {
      tat = await this.takeToken(bucket, now, limit);
      allowed = tat !== undefined;
      tat ??= (await this.currentTat(bucket)) ?? now;
    } catch (error) {
      this.reportFailure(error, now);
      return this.fallback.take(key, limit);
    }
    this.seen.set(bucket, Math.max(tat, known ?? 0));
    if (this.seen.size > 100_000) this.forgetFull(now);
    if (now - this.lastSweep >= this.sweepEveryMs) this.sweep(now);
    return gcraDecision(tat, now, limit, allowed);
  }

  /**
   * One atomic statement (PostgreSQL and SQLite alike): insert a fresh bucket holding one
   * request, or advance an existing one by one interval if it still has a token. The upsert's
   * WHERE leaves a refused bucket untouched and returns no row.
   */
  private async takeToken(bucket: string, now: number, limit: Limit): Promise<number | undefined> {
    this.queries++;
    const interval = intervalOf(limit);
    const rows = await this.db.prisma.$queryRaw<Array<{ tat: number }>>`
      INSERT INTO "RateBucket" ("key", "tat") VALUES (${bucket}, CAST(${now + interval} AS DOUBLE PRECISION))
      ON CONFLICT ("key") DO UPDATE
        SET "tat" = (CASE WHEN "RateBucket"."tat" > CAST(${now} AS DOUBLE PRECISION)
                          THEN "RateBucket"."tat" ELSE CAST(${now} AS DOUBLE PRECISION) END)
                    + CAST(${interval} AS DOUBLE PRECISION)
        WHERE (CASE WHEN "RateBucket"."tat" > CAST(${now} AS DOUBLE PRECISION)
                    THEN "RateBucket"."tat" ELSE CAST(${now} AS DOUBLE PRECISION) END)
              <= CAST(${now + limit.windowMs + SLACK_MS - interval} AS DOUBLE PRECISION)
      RETURNING "tat"`;
    return rows[0] ? Number(rows[0].tat) : undefined;
  }

  /** For a refusal's Retry-After: where the bucket stands. */
  private async currentTat(bucket: string): Promise<number | undefined> {
    this.queries++;
    const row = await this.db.prisma.rateBucket.findUnique({ where: { key: bucket } });
    return row ? Number(row.tat) : undefined;
  }

  /** A bucket whose tat has passed is full: the same as no row. Some margin for clock skew. */
  private sweep(now: number): void {
    this.lastSweep = now;
    this.forgetFull(now);
    this.db.prisma.rateBucket
      .deleteMany({ where: { tat: { lt: now - 60_000 } } })
      .then(({ count }) => count && this.log("Deleted full rate-limit buckets", { count }))
      .catch((error) => this.reportFailure(error, now));
  }

  /** What a replica remembers is only a shortcut: dropping it never changes an answer. */
  private forgetFull(now: number): void {
    for (const [bucket, tat] of this.seen) if (tat < now) this.seen.delete(bucket);
    if (this.seen.size > 100_000) this.seen.clear();
  }

  private reportFailure(error: unknown, now: number): void {
    if (now - this.lastFailureLog < 60_000) return;
    this.lastFailureLog = now;
    this.log(
      "Shared rate limits unavailable: limiting per replica until the database answers",
      { error: errorMessage(error) },
      "warn",
    );
  }
}

/** PostgreSQL installs may run several replicas: their limits are shared. SQLite runs one. */
export function limiterFor(db: Database, options: SharedOptions = {}): Limiter {
  return db.provider === "postgresql" ? new SharedRateLimiter(db, options) : new RateLimiter(options.now);
}

/** "600/60s", "10/1m", "50/1h" → a Limit. */
export function parseLimit(text: string): Limit {
  const m = /^(\d+)\/(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a rate like 600/60s`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[3] as "ms" | "s" | "m" | "h"];
  const limit = Number(m[1]);
  const windowMs = Number(m[2]) * unit;
  if (limit < 1 || windowMs < 1) throw new Error(`"${text}" must allow at least 1 request per window`);
  return { limit, windowMs };
}
