// Who may open an app is the API's decision (its forward-auth endpoint applies the app's
// access policy to the caller's session or API key). The gateway asks once per caller and app
// and keeps the answer briefly: a revoked key or a role change takes effect within the cache
// time (default 5 s) while a page's many asset requests cost one question.
export type AuthAnswer = { status: number; user?: string };

export type ForwardAuthOptions = {
  /** The API's base URL, e.g. http://atrium-api:8080. */
  url: string;
  cacheMs: number;
  timeoutMs: number;
  now?: () => number;
  fetch?: typeof fetch;
};

const MAX_ENTRIES = 10_000;

export class ForwardAuth {
  private readonly cache = new Map<string, { answer: AuthAnswer; at: number }>();
  private readonly inflight = new Map<string, Promise<AuthAnswer>>();
  private readonly o: Required<ForwardAuthOptions>;

  constructor(options: ForwardAuthOptions) {
    this.o = { now: Date.now, fetch: globalThis.fetch, ...options, url: options.url.replace(/\/$/, "") };
  }

  /** 204: allowed (user names the caller); 401: log in; 403: refused; 404; 502: the API did not answer. */
  check(
    org: string,
    app: string,
    headers: { cookie?: string | undefined; authorization?: string | undefined },
  ): Promise<AuthAnswer> {
    const cookie = headers.cookie ?? "";
    const authorization = headers.authorization ?? "";
    const k = key(org, app, cookie, authorization);
    const hit = this.cache.get(k);
    if (hit && this.o.now() - hit.at < this.o.cacheMs) return Promise.resolve(hit.answer);
    let pending = this.inflight.get(k);
    if (!pending) {
      pending = this.ask(org, app, cookie, authorization).finally(() => this.inflight.delete(k));
      this.inflight.set(k, pending);
    }
    return pending;
  }

  private async ask(org: string, app: string, cookie: string, authorization: string): Promise<AuthAnswer> {
    let answer: AuthAnswer;
    try {
      const res = await this.o.fetch(`${this.o.url}/api/forward-auth/${org}/${app}`, {
        headers: { ...(cookie ? { cookie } : {}), ...(authorization ? { authorization } : {}) },
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
    if (answer.status >= 500) return answer;
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key(org, app, cookie, authorization), { answer, at: this.o.now() });
    return answer;
  }
}

const key = (org: string, app: string, cookie: string, authorization: string) =>
  `${org}/${app}\n${cookie}\n${authorization}`;
