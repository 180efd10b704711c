// Cookie parsing and setting: two small functions instead of a dependency.

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i < 1) continue;
    const name = part.slice(0, i).trim();
    if (out.has(name)) continue; // the first is the most specific path
    try {
      out.set(name, decodeURIComponent(part.slice(i + 1).trim()));
    } catch {
      // A malformed value is ignored, as browsers do.
    }
  }
  return out;
}

/**
 * A host-only cookie's name, with the `__Host-` prefix when cookies are Secure: browsers then take
 * it only over https from this very origin, with Path=/ and no Domain, so no subdomain (an app
 * behind the gateway included) can plant or overwrite it. Browsers refuse a `__Host-` cookie
 * that is not Secure, and development serves plain http on loopback, so there it keeps its plain
 * name (as the session cookie is Secure on https only).
 */
export const hostCookieName = (name: string, secure: boolean) => (secure ? `__Host-${name}` : name);

export type CookieOptions = {
  httpOnly?: boolean;
  secure: boolean;
  maxAgeS?: number;
  path?: string;
  /** Shared with subdomains (the apps behind the gateway) when set; host-only otherwise. */
  domain?: string | undefined;
};

export function cookie(name: string, value: string, o: CookieOptions): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${o.path ?? "/"}`,
    o.domain ? `Domain=${o.domain}` : "",
    "SameSite=Lax",
    o.httpOnly === false ? "" : "HttpOnly",
    o.secure ? "Secure" : "",
    o.maxAgeS === undefined ? "" : `Max-Age=${o.maxAgeS}`,
  ]
    .filter(Boolean)
    .join("; ");
}
