// Who may open an app is the API's decision (its forward-auth endpoint applies the app's
// access policy to the caller's session or API key). The gateway asks once per caller and app
// and keeps the answer briefly: a revoked key or a role change takes effect within the cache
// time (default 5 s) while a page's many asset requests cost one question.
//
// Only Atrium's own credentials go to the API: the atrium_session cookie and an Atrium API key
// (Authorization: Bearer atr_…). The app's cookies and its own Authorization are the app's
// business, never sent, never kept. Cache keys are hashes of those credentials, so the cache
// holds no secret. Refusals (401/403/404) are kept only briefly (default 2 s: a caller who
// just logged in or was just given a role waits no longer than that), grants for the cache
// time, and the whole cache is bounded in bytes, the oldest entries going first.
import { createHash } from "node:crypto";
import { isAtriumKey, sessionCookie } from "./headers.ts";

export type AuthAnswer = { status: number; user?: string };

export type ForwardAuthOptions = {
  /** The API's base URL, e.g. http://atrium-api:8080. */
  url: string;
  /** How long a grant (2xx) is kept. */
  cacheMs: number;
  /** How long a refusal (401, 403, 404) is kept. Default 2000. */
  refusalCacheMs?: number;
  /** The cache's size bound, in estimated bytes (keys, user names, bookkeeping). Default 4 MiB. */
  maxCacheBytes?: number;
  timeoutMs: number;
  now?: () => number;
  fetch?: typeof fetch;
};

/** The credentials of a request that the API reads; undefined when it carries neither. */
export type Credentials = { session?: string; key?: string };

export function atriumCredentials(headers: {
  cookie?: string | undefined;
  authorization?: string | undefined;
}): Credentials | undefined {
  const session = sessionCookie(headers.cookie);
  const key = isAtriumKey(headers.authorization) ? headers.authorization : undefined;
  if (!session && !key) return undefined;
  return { ...(session ? { session } : {}), ...(key ? { key } : {}) };
}

/** The cache key: a hash of the app and the credentials (the secrets themselves are not kept). */
export const cacheKey = (org: string, app: string, c: Credentials) =>
  createHash("sha256")
    .update(`${org}/${app}\0${c.session ?? ""}\0${c.key ?? ""}`)
    .digest("base64url");

/**
 * What one entry costs, estimated: the key and user strings (two bytes a character at most)
 * and about 200 bytes of Map slot, entry object and answer object.
 */
export const entryBytes = (key: string, answer: AuthAnswer) => 200 + 2 * (key.length + (answer.user?.length ?? 0));

const REFUSED = new Set([401, 403, 404]);

type Entry = { answer: AuthAnswer; expires: number; bytes: number };

export class ForwardAuth {
  private readonly cache = new Map<string, Entry>();
  private cacheBytes = 0;
  private readonly inflight = new Map<string, Promise<AuthAnswer>>();
  private readonly o: Required<ForwardAuthOptions>;

  constructor(options: ForwardAuthOptions) {
    this.o = {
      now: Date.now,
      fetch: globalThis.fetch,
      refusalCacheMs: 2000,
      maxCacheBytes: 4 * 1024 * 1024,
      ...options,
      url: options.url.replace(/\/$/, ""),
    };
  }

  /** The estimated bytes the cache holds now (for tests and metrics). */
  get bytes(): number {
    return this.cacheBytes;
  }

  /**
   * 204: allowed (user names the caller); 401: log in; 403: refused; 404: no such app (or not
   * one of the caller's organizations); 502: the API did not answer. A request without
   * Atrium credentials is 401 without asking: the API answers nothing else to nobody.
   */
  check(
    org: string,
    app: string,
    headers: { cookie?: string | undefined; authorization?: string | undefined },
  ): Promise<AuthAnswer> {
    const credentials = atriumCredentials(headers);
    if (!credentials) return Promise.resolve({ status: 401 });
    const k = cacheKey(org, app, credentials);
    const hit = this.cache.get(k);
    if (hit) {
      if (this.o.now() < hit.expires) return Promise.resolve(hit.answer);
      this.forget(k, hit);
    }
    let pending = this.inflight.get(k);
    if (!pending) {
      pending = this.ask(org, app, credentials, k).finally(() => this.inflight.delete(k));
      this.inflight.set(k, pending);
    }
    return pending;
  }

  private async ask(org: string, app: string, c: Credentials, k: string): Promise<AuthAnswer> {
    let answer: AuthAnswer;
    try {
      const res = await this.o.fetch(`${this.o.url}/api/forward-auth/${org}/${app}`, {
        headers: {
          ...(c.session ? { cookie: `atrium_session=${c.session}` } : {}),
          ...(c.key ? { authorization: c.key } : {}),
        },
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      await res.arrayBuffer();
      answer = {
        status: res.status,
        ...(res.headers.get("x-atrium-user") ? { user: res.headers.get("x-atrium-user") as string } : {}),
      };
    } catch {
      return { status: 502 }; // not cached: the next request asks again
    }
    const ttl = answer.status < 300 ? this.o.cacheMs : REFUSED.has(answer.status) ? this.o.refusalCacheMs : 0;
    if (ttl > 0) this.remember(k, { answer, expires: this.o.now() + ttl, bytes: entryBytes(k, answer) });
    return answer;
  }

  private remember(k: string, entry: Entry) {
    const old = this.cache.get(k);
    if (old) this.forget(k, old);
    if (entry.bytes > this.o.maxCacheBytes) return;
    // Oldest first: a Map iterates in insertion order.
    for (const [oldest, e] of this.cache) {
      if (this.cacheBytes + entry.bytes <= this.o.maxCacheBytes) break;
      this.forget(oldest, e);
    }
    this.cache.set(k, entry);
    this.cacheBytes += entry.bytes;
  }

  private forget(k: string, entry: Entry) {
    this.cache.delete(k);
    this.cacheBytes -= entry.bytes;
  }
}
