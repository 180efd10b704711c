// Server-side sessions. The cookie holds 256 random bits; the database holds only their
// SHA-256, so a leaked database does not hand out live sessions. A login always makes a new
// session (rotation: a cookie planted before login is worthless after it). Each session has
// its own CSRF token, which cookie-authenticated writes must echo in X-CSRF-Token.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Database } from "../db/index.ts";

export const SESSION_COOKIE = "atrium_session";
export const CSRF_COOKIE = "atrium_csrf";
export const CSRF_HEADER = "x-csrf-token";

export type SessionUser = { sessionId: string; userId: string; email: string; name: string; csrfToken: string };

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
/** A session's id: the SHA-256 hex of its cookie token. */
export const sessionIdOf = (cookie: string) => sha256(cookie);
const token = () => randomBytes(32).toString("base64url");

export class Sessions {
  private readonly db: Database;
  readonly ttlMs: number;
  private readonly now: () => number;

  constructor(db: Database, options: { ttlMs?: number; now?: () => number } = {}) {
    this.db = db;
    this.ttlMs = options.ttlMs ?? 7 * 24 * 3_600_000;
    this.now = options.now ?? Date.now;
  }

  async create(
    userId: string,
    meta: { ip?: string; userAgent?: string },
  ): Promise<{ cookie: string; csrfToken: string }> {
    const cookie = token();
    const csrfToken = token();
    const now = new Date(this.now());
    await this.db.prisma.session.create({
      data: {
        id: sha256(cookie),
        userId,
        csrfToken,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + this.ttlMs),
        ip: meta.ip ?? null,
        userAgent: meta.userAgent?.slice(0, 512) ?? null,
      },
    });
    return { cookie, csrfToken };
  }

  async lookup(cookie: string): Promise<SessionUser | undefined> {
    const session = await this.db.prisma.session.findUnique({ where: { id: sha256(cookie) }, include: { user: true } });
    if (!session) return undefined;
    const now = this.now();
    if (session.expiresAt.getTime() <= now) {
      await this.db.prisma.session.delete({ where: { id: session.id } }).catch(() => {});
      return undefined;
    }
    // Activity is recorded at most every 5 minutes: reads must not turn into writes.
    if (now - session.lastSeenAt.getTime() > 300_000)
      await this.db.prisma.session.update({ where: { id: session.id }, data: { lastSeenAt: new Date(now) } });
    return {
      sessionId: session.id,
      userId: session.userId,
      email: session.user.email,
      name: session.user.name,
      csrfToken: session.csrfToken,
    };
  }

  async destroy(cookie: string): Promise<void> {
    await this.db.prisma.session.deleteMany({ where: { id: sha256(cookie) } });
  }
}

export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
