// Which app a request is for, and whether it counts as activity. Pure functions.

export type Route = { org: string; app: string /** the path the app sees */; path: string };

/**
 * `<app>.<org>.<baseDomain>` (production), or `/apps/<org>/<app>/...` on any host (local use,
 * where wildcard DNS is not at hand). Returns undefined when the request names no app.
 */
export function routeOf(host: string | undefined, url: string, baseDomain: string): Route | undefined {
  const hostname = (host ?? "").replace(/:\d+$/, "").toLowerCase();
  const suffix = `.${baseDomain}`;
  if (hostname.endsWith(suffix)) {
    const labels = hostname.slice(0, -suffix.length).split(".");
    if (labels.length === 2 && labels[0] && labels[1]) return { app: labels[0], org: labels[1], path: url || "/" };
  }
  const m = url.match(/^\/apps\/([a-z0-9-]+)\/([a-z0-9-]+)(\/.*)?$/);
  if (m) return { org: m[1] as string, app: m[2] as string, path: m[3] ?? "/" };
  return undefined;
}

export type Exclusions = { paths: readonly string[]; userAgents: readonly string[] };

/**
 * Health checks and monitors must neither keep an app awake nor wake it. A path matches
 * exactly or as a prefix ending in `*`; a user agent matches as a case-insensitive substring.
 */
export function isExcluded(path: string, userAgent: string | undefined, ...lists: Exclusions[]): boolean {
  const query = path.indexOf("?");
  const bare = query < 0 ? path : path.slice(0, query);
  let ua: string | undefined;
  for (const list of lists) {
    for (const p of list.paths) if (p.endsWith("*") ? bare.startsWith(p.slice(0, -1)) : bare === p) return true;
    if (!list.userAgents.length) continue;
    ua ??= (userAgent ?? "").toLowerCase();
    for (const u of lowerCased(list.userAgents)) if (u && ua.includes(u)) return true;
  }
  return false;
}

// Exclusion lists live as long as the config or the app object they come from: lower-cased once.
const lowered = new WeakMap<readonly string[], string[]>();
function lowerCased(list: readonly string[]): string[] {
  let lower = lowered.get(list);
  if (!lower) {
    lower = list.map((s) => s.toLowerCase());
    lowered.set(list, lower);
  }
  return lower;
}

/** A browser navigation: gets a "starting" page instead of a held request. */
export const wantsHtml = (method: string | undefined, accept: string | undefined) =>
  method === "GET" && (accept ?? "").includes("text/html");
