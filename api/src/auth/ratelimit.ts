// Token buckets: `limit` requests per `windowMs`, refilled continuously, per key (an API key,
// an org's invitations). In memory per replica: each replica enforces the limit on what it
// serves, which bounds a client to replicas × limit at worst; no shared store is needed.

export type Limit = { limit: number; windowMs: number };
export type Decision = { allowed: boolean; limit: number; remaining: number; resetS: number; retryAfterS: number };

export class RateLimiter {
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
