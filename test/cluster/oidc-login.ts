// A whole OIDC login without a browser, against any API that implements
//   GET /api/auth/login?returnTo=...  -> 302 to the IdP's authorization URL
//   GET /api/auth/callback?...        -> Set-Cookie (the session) and 302 to returnTo
// and the login page of test/cluster/oidc-provider.ts: fetch with redirect "manual", a small cookie
// jar per origin (scheme://host:port; stricter than browsers, which share cookies across ports),
// and the first HTML form that has an `email` input is filled in and submitted (or, with `cancel`,
// the form posting to .../abort).
//
//   const { cookieHeader } = await loginWithOidc({ apiBase, email: "admin@acme.example", password: "demo" });
//   await fetch(`${apiBase}/api/me`, { headers: { cookie: cookieHeader } });

export type OidcLoginResult = {
  /** The API's cookies after the callback (name -> value). */
  cookies: Map<string, string>;
  /** The same as a Cookie request header: "a=1; b=2". */
  cookieHeader: string;
  /** The Location the API's callback redirected to, as sent (typically returnTo). */
  finalLocation: string;
};

const MAX_STEPS = 20;
const CALLBACK_PATH = "/api/auth/callback";

export async function loginWithOidc(opts: {
  apiBase: string;
  email: string;
  password?: string;
  returnTo?: string;
  /**
   * Press "Cancel" on the IdP's login page instead of signing in: the IdP sends the browser back
   * with error=access_denied, and the result is whatever the API's callback made of that.
   */
  cancel?: boolean;
  /**
   * Stop where the IdP sends the browser back, without calling the API's callback:
   * finalLocation is then the callback URL (with code and state), cookies those set so far.
   */
  stopAtCallback?: boolean;
}): Promise<OidcLoginResult> {
  const jar = new CookieJar();
  const api = new URL(opts.apiBase);
  const start = new URL("/api/auth/login", api);
  if (opts.returnTo !== undefined) start.searchParams.set("returnTo", opts.returnTo);

  let request: { url: URL; method: "GET" | "POST"; body?: URLSearchParams } = { url: start, method: "GET" };
  let submitted = 0;
  const trail: string[] = [];
  for (let step = 0; step < MAX_STEPS; step++) {
    const { url, method, body } = request;
    if (opts.stopAtCallback && url.origin === api.origin && url.pathname === CALLBACK_PATH) {
      const cookies = jar.cookiesFor(api);
      const cookieHeader = [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");
      return { cookies, cookieHeader, finalLocation: url.href };
    }
    const headers: Record<string, string> = { accept: "text/html,application/json;q=0.9" };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(url, { method, headers, body, redirect: "manual" });
    jar.store(url, response.headers.getSetCookie());
    trail.push(`${method} ${url.origin}${url.pathname} -> ${response.status}`);
    const location = response.headers.get("location");

    if (url.origin === api.origin && url.pathname === CALLBACK_PATH) {
      if (response.status < 300 || response.status >= 400 || location === null) {
        throw new Error(
          `the API's callback answered ${response.status}: ${await snippet(response)}\n${trail.join("\n")}`,
        );
      }
      await response.body?.cancel();
      const cookies = jar.cookiesFor(api);
      return {
        cookies,
        cookieHeader: [...cookies].map(([name, value]) => `${name}=${value}`).join("; "),
        finalLocation: location,
      };
    }
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      request = { url: new URL(location, url), method: "GET" };
      continue;
    }
    const html = (response.headers.get("content-type") ?? "").includes("text/html") ? await response.text() : "";
    const forms = parseForms(html, url);
    const form = forms.find((f) => f.fields.has("email"));
    const autoSubmit = forms[0] && /document\.forms\[0\]\.submit\(\)/.test(html) ? forms[0] : undefined;
    if (!form && autoSubmit) {
      // A page a browser's script would submit at once (oidc-provider's "end the other session" step).
      request = { url: autoSubmit.action, method: "POST", body: autoSubmit.fields };
      continue;
    }
    if (!form) {
      const text = html || (await snippet(response));
      throw new Error(
        `login stopped at ${method} ${url.href} (${response.status}): ${text.slice(0, 500)}\n${trail.join("\n")}`,
      );
    }
    if (submitted > 0) {
      // The login page came back after we submitted it: the IdP refused the credentials.
      const error = /<p class="error"[^>]*>([^<]*)</.exec(html)?.[1] ?? `status ${response.status}`;
      throw new Error(`the IdP refused the login of ${opts.email}: ${error}`);
    }
    if (opts.cancel) {
      const cancel = forms.find((f) => f.action.pathname.endsWith("/abort"));
      if (!cancel) throw new Error(`no cancel form on the login page at ${url.href}`);
      submitted++;
      request = { url: cancel.action, method: "POST", body: cancel.fields };
      continue;
    }
    form.fields.set("email", opts.email);
    if (form.fields.has("password") || opts.password !== undefined) form.fields.set("password", opts.password ?? "");
    submitted++;
    request = { url: form.action, method: "POST", body: form.fields };
  }
  throw new Error(`login did not finish within ${MAX_STEPS} requests:\n${trail.join("\n")}`);
}

/** Every <form> of a page: its action and its named inputs' values. */
function parseForms(html: string, base: URL): Array<{ action: URL; fields: URLSearchParams }> {
  const forms: Array<{ action: URL; fields: URLSearchParams }> = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const [, attributes = "", inner = ""] = match;
    const fields = new URLSearchParams();
    for (const input of inner.matchAll(/<input\b([^>]*)>/gi)) {
      const name = attribute(input[1] ?? "", "name");
      if (name) fields.set(name, attribute(input[1] ?? "", "value") ?? "");
    }
    forms.push({ action: new URL(attribute(attributes, "action") ?? base.href, base), fields });
  }
  return forms;
}

function attribute(attributes: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, "i").exec(attributes);
  const raw = match?.[1] ?? match?.[2] ?? match?.[3];
  return raw === undefined ? undefined : unescapeHtml(raw);
}

function unescapeHtml(value: string): string {
  return value.replace(/&(#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);/gi, (entity, code: string) => {
    const lower = code.toLowerCase();
    if (lower.startsWith("#x")) return String.fromCodePoint(Number.parseInt(lower.slice(2), 16));
    if (lower.startsWith("#")) return String.fromCodePoint(Number(lower.slice(1)));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[lower] ?? entity;
  });
}

async function snippet(response: Response): Promise<string> {
  return (await response.text().catch(() => "")).slice(0, 500);
}

/**
 * Cookies per origin, honouring Path, Max-Age and Expires (enough for oidc-provider and an API);
 * Domain, Secure and SameSite are ignored: everything here is one loopback origin talking to itself.
 */
class CookieJar {
  #byOrigin = new Map<string, Map<string, { name: string; value: string; path: string; expires: number }>>();

  store(url: URL, setCookies: string[]) {
    let cookies = this.#byOrigin.get(url.origin);
    if (!cookies) {
      cookies = new Map();
      this.#byOrigin.set(url.origin, cookies);
    }
    for (const line of setCookies) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.replace(/\/[^/]*$/, "") || "/";
      let expires = Number.POSITIVE_INFINITY;
      let maxAge: number | undefined;
      for (const attr of attributes) {
        const [key = "", ...rest] = attr.split("=");
        const val = rest.join("=").trim();
        switch (key.trim().toLowerCase()) {
          case "path":
            if (val.startsWith("/")) path = val;
            break;
          case "expires":
            expires = Date.parse(val);
            break;
          case "max-age":
            maxAge = Number(val);
            break;
        }
      }
      if (maxAge !== undefined) expires = Date.now() + maxAge * 1000;
      const key = `${name};${path}`;
      if (!(expires > Date.now())) cookies.delete(key);
      else cookies.set(key, { name, value, path, expires });
    }
  }

  #matching(url: URL) {
    const now = Date.now();
    return [...(this.#byOrigin.get(url.origin)?.values() ?? [])]
      .filter((c) => c.expires > now && pathMatches(url.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
  }

  header(url: URL): string {
    return this.#matching(url)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  /** Every live cookie of the origin, whatever its path (longest path wins a name clash). */
  cookiesFor(url: URL): Map<string, string> {
    const now = Date.now();
    const all = [...(this.#byOrigin.get(url.origin)?.values() ?? [])]
      .filter((c) => c.expires > now)
      .sort((a, b) => a.path.length - b.path.length);
    return new Map(all.map((c) => [c.name, c.value]));
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}
