// API key verification. The key id (public, inside the key) finds the row; the stored HMAC is
// compared in constant time. Rows are cached for at most `maxAgeMs` (default 500 ms): a hit
// costs one HMAC, and a revocation in the database reaches every replica within that age plus
// one read, well inside a second. Requests that find a key's entry expired together share one
// read (else every one of them would read the database at once, every maxAgeMs, under load).
// Last-used times are written at most once a minute per key. The HMAC is computed once per
// cached row: a row remembers a plain SHA-256 of the secret that matched it (never the secret
// itself), and the same secret again is checked against that, in constant time. A busy key
// costs one HMAC per maxAgeMs instead of one per request (a fifth of a marketplace search's
// handler time, profiled).
import { hash, timingSafeEqual } from "node:crypto";
import type { Database } from "../db/index.ts";
import { hashKey, type Peppers, parseKey } from "./keyformat.ts";
import type { KeyType } from "./principal.ts";

export type KeyRow = {
  id: string;
  org: string;
  name: string;
  type: string;
  hashVersion: number;
  hash: string;
  scopes: string;
  createdBy: string;
  memberName: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
};

export type VerifiedKey = {
  id: string;
  type: KeyType;
  org: string;
  email: string;
  memberName: string;
  scopes: string[];
};

export type KeyFailure = "malformed" | "unknown" | "revoked" | "expired";

type Cached = {
  row: KeyRow | null;
  scopes: string[];
  at: number;
  lastUsedWrite: number;
  /** SHA-256 of the secret that matched this row's HMAC (set by the first match). */
  matched?: Buffer;
};

export class KeyStore {
  private readonly cache = new Map<string, Cached>();
  /** Reads under way, by key id: requests arriving meanwhile wait for the same one. */
  private readonly reading = new Map<string, Promise<Cached>>();
  private readonly db: Database;
  private readonly peppers: Peppers;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(db: Database, peppers: Peppers, options: { maxAgeMs?: number; now?: () => number } = {}) {
    this.db = db;
    this.peppers = peppers;
    this.maxAgeMs = options.maxAgeMs ?? 500;
    this.now = options.now ?? Date.now;
  }

  async verify(secret: string): Promise<VerifiedKey | KeyFailure> {
    const parsed = parseKey(secret);
    if (!parsed) return "malformed";
    const entry = await this.row(parsed.id);
    const row = entry.row;
    if (!row || row.type !== parsed.type) return "unknown";
    if (!this.matches(entry, row, secret)) return "unknown";
    if (row.revokedAt) return "revoked";
    if (row.expiresAt && row.expiresAt.getTime() <= this.now()) return "expired";
    this.touch(entry, row.id);
    return {
      id: row.id,
      type: row.type as KeyType,
      org: row.org,
      email: row.createdBy,
      memberName: row.memberName,
      scopes: entry.scopes,
    };
  }

  /** Whether secret is the key of row: its HMAC, or the digest of a secret that already matched this entry. */
  private matches(entry: Cached, row: KeyRow, secret: string): boolean {
    const digest = hash("sha256", secret, "buffer");
    if (entry.matched) return timingSafeEqual(entry.matched, digest);
    const expected = Buffer.from(row.hash, "hex");
    const actual = Buffer.from(hashKey(this.peppers, row.hashVersion, secret), "hex");
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return false;
    entry.matched = digest;
    return true;
  }

  /** Forgets a key at once on this replica (others notice within maxAgeMs). */
  forget(id: string): void {
    this.cache.delete(id);
    // A read that started before the revocation may still bring the old row: not shared any more.
    this.reading.delete(id);
  }

  private row(id: string): Promise<Cached> {
    const hit = this.cache.get(id);
    if (hit && this.now() - hit.at < this.maxAgeMs) return Promise.resolve(hit);
    let read = this.reading.get(id);
    if (!read) {
      read = this.read(id, hit).finally(() => {
        if (this.reading.get(id) === read) this.reading.delete(id);
      });
      this.reading.set(id, read);
    }
    return read;
  }

  private async read(id: string, hit: Cached | undefined): Promise<Cached> {
    const row = (await this.db.prisma.apiKey.findUnique({ where: { id } })) as KeyRow | null;
    const entry = {
      row,
      scopes: row ? (JSON.parse(row.scopes) as string[]) : [],
      at: this.now(),
      lastUsedWrite: hit?.lastUsedWrite ?? row?.lastUsedAt?.getTime() ?? 0,
    };
    this.cache.set(id, entry);
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value as string);
    return entry;
  }

  private touch(entry: Cached, id: string): void {
    const now = this.now();
    if (now - entry.lastUsedWrite < 60_000) return;
    entry.lastUsedWrite = now;
    this.db.prisma.apiKey.update({ where: { id }, data: { lastUsedAt: new Date(now) } }).catch(() => {});
  }
}
