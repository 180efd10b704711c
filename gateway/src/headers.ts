// What crosses the gateway in each direction. Pure functions over raw header lists
// ([name, value, name, value, …], as node:http and llhttp give them), so repeated fields such
// as Set-Cookie keep their order and count.
import { BlockList, isIP } from "node:net";

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

/**
 * Whether a field name is hop-by-hop. Most names are not and differ in length from all of them:
 * those are told apart without lower-casing them (this runs for every field both ways).
 */
function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
    case 7:
    case 10:
    case 16:
    case 17:
      return HOP_BY_HOP.has(name.toLowerCase());
    default:
      return false;
  }
}

/**
 * The fields a Connection header names besides the hop-by-hop ones (lower-case), or undefined
 * when it names none (the usual "keep-alive").
 */
function connectionNamed(raw: readonly string[]): string[] | undefined {
  let named: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== "connection") continue;
    const value = raw[i + 1] as string;
    // What nearly every message says, naming no other field: no list to split.
    if (value === "keep-alive" || value === "close" || value === "Keep-Alive" || value === "Close") continue;
    for (const item of value.split(",")) {
      const token = item.trim().toLowerCase();
      if (!token || HOP_BY_HOP.has(token)) continue;
      named ??= [];
      named.push(token);
    }
  }
  return named;
}

/** Whether a field is dropped on its way through: hop-by-hop, or named by Connection. */
const dropped = (name: string, named: readonly string[] | undefined) =>
  isHopByHop(name) || named?.includes(name.toLowerCase()) === true;

/** The header list without hop-by-hop fields. */
export function withoutHopByHop(raw: readonly string[]): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2)
    if (!dropped(raw[i] as string, named)) out.push(raw[i] as string, raw[i + 1] as string);
  return out;
}

const ATRIUM_COOKIES = /(?:^|;\s*)atrium_(?:session|csrf)=[^;]*/g;
const ATRIUM_KEY = /^Bearer\s+atr_(sk|ai)_/i;
const SESSION_COOKIE = "atrium_session";

/** A Cookie value without Atrium's session cookies; empty when nothing else was in it. */
export function withoutAtriumCookies(cookie: string): string {
  if (!cookie.includes("atrium_")) return cookie;
  return cookie.replace(ATRIUM_COOKIES, "").replace(/^;\s*/, "").trim();
}

/** An Authorization value that carries an Atrium API key (and nothing of the app's). */
export const isAtriumKey = (authorization: string | undefined): authorization is string =>
  authorization !== undefined && ATRIUM_KEY.test(authorization);

/** The value of the first atrium_session cookie (the API reads the first too), as sent. */
export function sessionCookie(cookie: string | undefined): string | undefined {
  if (!cookie?.includes(SESSION_COOKIE)) return undefined;
  for (const part of cookie.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) return part.slice(i + 1).trim() || undefined;
  }
  return undefined;
}

// Trusted proxies. The X-Forwarded-* family, X-Real-IP and Forwarded say who the client is and
// how it came; a client can write them as well as a proxy can. They are believed only from a
// peer in ATRIUM_GATEWAY_TRUSTED_PROXIES (nginx's set_real_ip_from, Envoy's trusted hops);
// from anyone else they are replaced by what the gateway saw itself.

/** Normalized CIDRs ("10.0.0.0/8", "::1/128") from a comma-separated list; throws naming `variable`. */
export function parseTrustedProxies(list: string | undefined, variable: string): string[] {
  const out: string[] = [];
  for (const item of (list ?? "").split(",")) {
    const entry = item.trim();
    if (!entry) continue;
    const [address = "", prefix, extra] = entry.split("/");
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const length = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
    if (!family || extra !== undefined || !(length >= 0 && length <= bits))
      throw new Error(`${variable}: "${entry}" is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8)`);
    out.push(`${address}/${length}`);
  }
  return out;
}

/** Whether a peer address is in one of the CIDRs (IPv4-mapped IPv6 peers match IPv4 ranges). */
export function trustedPeers(cidrs: readonly string[]): (address: string | undefined) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split("/") as [string, string];
    list.addSubnet(address, Number(prefix), isIP(address) === 4 ? "ipv4" : "ipv6");
  }
  return (address) => {
    const family = address ? isIP(address) : 0;
    return family !== 0 && list.check(address as string, family === 4 ? "ipv4" : "ipv6");
  };
}

/**
 * The scheme and host the client asked for: from X-Forwarded-Proto/-Host when the peer is a
 * trusted proxy, else what the gateway itself saw (plain HTTP; the Host field).
 */
export function clientOrigin(headers: Record<string, string | undefined>, trusted: boolean): string {
  const proto = trusted ? firstValue(headers["x-forwarded-proto"]) : undefined;
  const host = (trusted ? firstValue(headers["x-forwarded-host"]) : undefined) ?? headers.host ?? "";
  return `${proto ?? "http"}://${host}`;
}

const firstValue = (value: string | undefined) => value?.split(",")[0]?.trim() || undefined;
const lastValue = (value: string) => value.split(",").at(-1)?.trim() || undefined;

export type Forwarding = {
  method: string;
  /** The path the app sees. */
  path: string;
  /** The TCP peer's address. */
  remoteAddress: string;
  /**
   * The peer is a trusted proxy: its X-Forwarded-For is appended to, its X-Forwarded-Proto,
   * X-Forwarded-Host, X-Real-IP and Forwarded kept. Otherwise all of them are replaced.
   */
  trustedPeer?: boolean;
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
 * cookies are dropped from Cookie and an Atrium API key from Authorization. X-Forwarded-For is
 * the peer's address (appended to a trusted proxy's list), X-Forwarded-Host the Host asked
 * for, X-Forwarded-Proto http, X-Real-IP the client's address; Forwarded only passes from a
 * trusted proxy (the gateway writes none).
 */
export function requestHead(raw: readonly string[], f: Forwarding): string {
  let head = `${f.method} ${f.path} HTTP/1.1\r\n`;
  const trusted = f.trustedPeer === true;
  let forwardedFor = "";
  let proto: string | undefined;
  let forwardedHost: string | undefined;
  let realIp: string | undefined;
  let host: string | undefined;
  const named = connectionNamed(raw);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (dropped(name, named)) continue;
    let value = raw[i + 1] as string;
    switch (name.toLowerCase()) {
      case "cookie":
        value = withoutAtriumCookies(value);
        if (!value) continue;
        break;
      case "authorization":
        if (ATRIUM_KEY.test(value)) continue;
        break;
      case "x-atrium-user":
        continue;
      case "x-forwarded-for":
        if (trusted) forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
        continue;
      case "x-forwarded-proto":
        if (trusted) proto ??= value;
        continue;
      case "x-forwarded-host":
        if (trusted) forwardedHost ??= value;
        continue;
      case "x-real-ip":
        if (trusted) realIp ??= value;
        continue;
      case "forwarded":
        if (!trusted) continue;
        break;
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
  // Behind a trusted proxy the client is the one that proxy saw: the last address it added.
  realIp ??= (forwardedFor && lastValue(forwardedFor)) || f.remoteAddress;
  head += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ` : ""}${f.remoteAddress}\r\n`;
  head += `x-forwarded-host: ${forwardedHost ?? host}\r\nx-forwarded-proto: ${proto ?? "http"}\r\n`;
  head += `x-real-ip: ${realIp}\r\n`;
  if (f.user) head += `x-atrium-user: ${f.user}\r\n`;
  if (f.chunked) head += "transfer-encoding: chunked\r\n";
  if (f.upgrade) head += `connection: upgrade\r\nupgrade: ${f.upgrade}\r\n`;
  return `${head}\r\n`;
}
