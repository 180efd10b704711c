// What crosses the gateway in each direction. Pure functions over raw header lists
// ([name, value, name, value, …], as node:http and llhttp give them), so repeated fields such
// as Set-Cookie keep their order and count.

// Hop-by-hop fields (RFC 9110 §7.6.1) belong to one connection and are never forwarded, nor
// are the fields a Connection header names.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The header list without hop-by-hop fields. */
export function withoutHopByHop(raw: readonly string[]): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2)
    if ((raw[i] as string).toLowerCase() === "connection") {
      named ??= new Set();
      for (const token of (raw[i + 1] as string).split(",")) named.add(token.trim().toLowerCase());
    }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named?.has(name)) out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

const ATRIUM_COOKIES = /(?:^|;\s*)atrium_(?:session|csrf)=[^;]*/g;
const ATRIUM_KEY = /^Bearer\s+atr_(sk|ai)_/i;

/** A Cookie value without Atrium's session cookies; empty when nothing else was in it. */
export function withoutAtriumCookies(cookie: string): string {
  if (!cookie.includes("atrium_")) return cookie;
  return cookie.replace(ATRIUM_COOKIES, "").replace(/^;\s*/, "").trim();
}

export type Forwarding = {
  method: string;
  /** The path the app sees. */
  path: string;
  remoteAddress: string;
  /** The Atrium user the API named, passed as X-Atrium-User (only the gateway sets it). */
  user?: string | undefined;
  /** The body has no known length and goes as chunks. */
  chunked?: boolean;
  /** The protocol of an Upgrade request (WebSocket). */
  upgrade?: string | undefined;
  /** Host for clients that sent none (HTTP/1.0): the endpoint's address. */
  fallbackHost: string;
};

/**
 * The request head the app receives. Atrium's own credentials never reach an app: its session
 * cookies are dropped from Cookie and an Atrium API key from Authorization. X-Forwarded-For gets
 * the client's address appended; X-Forwarded-Host is the Host the client asked for.
 */
export function requestHead(raw: readonly string[], f: Forwarding): string {
  let head = `${f.method} ${f.path} HTTP/1.1\r\n`;
  let forwardedFor = "";
  let proto: string | undefined;
  let host: string | undefined;
  const headers = withoutHopByHop(raw);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    let value = headers[i + 1] as string;
    switch (name.toLowerCase()) {
      case "cookie":
        value = withoutAtriumCookies(value);
        if (!value) continue;
        break;
      case "authorization":
        if (ATRIUM_KEY.test(value)) continue;
        break;
      case "x-atrium-user":
      case "x-forwarded-host":
        continue;
      case "x-forwarded-for":
        forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
        continue;
      case "x-forwarded-proto":
        proto ??= value;
        continue;
      case "host":
        host = value;
        break;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (host === undefined) {
    host = f.fallbackHost;
    head += `host: ${host}\r\n`;
  }
  head += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ` : ""}${f.remoteAddress}\r\n`;
  head += `x-forwarded-host: ${host}\r\nx-forwarded-proto: ${proto ?? "http"}\r\n`;
  if (f.user) head += `x-atrium-user: ${f.user}\r\n`;
  if (f.chunked) head += "transfer-encoding: chunked\r\n";
  if (f.upgrade) head += `connection: upgrade\r\nupgrade: ${f.upgrade}\r\n`;
  return `${head}\r\n`;
}
