import { describe, expect, it } from "vitest";
import {
  clientOrigin,
  isAtriumKey,
  parseTrustedProxies,
  requestHead,
  sessionCookie,
  trustedPeers,
  withoutAtriumCookies,
  withoutHopByHop,
} from "./headers.ts";

/** The header lines of a head, without the request line. */
const lines = (head: string) => head.split("\r\n").slice(1, -2);
const base = { method: "GET", path: "/x?y=1", remoteAddress: "10.0.0.9", fallbackHost: "10.1.0.4:8080" };

describe("withoutHopByHop", () => {
  it("drops hop-by-hop fields and those the Connection header names, keeps repeated fields in order", () => {
    const raw = [
      "Connection",
      "keep-alive, X-Trace",
      "Keep-Alive",
      "timeout=5",
      "x-trace",
      "1",
      "Transfer-Encoding",
      "chunked",
    ];
    raw.push(
      "Set-Cookie",
      "a=1",
      "Upgrade",
      "h2c",
      "Set-Cookie",
      "b=2",
      "TE",
      "trailers",
      "Content-Type",
      "text/plain",
    );
    expect(withoutHopByHop(raw)).toEqual(["Set-Cookie", "a=1", "Set-Cookie", "b=2", "Content-Type", "text/plain"]);
  });
});

describe("withoutAtriumCookies", () => {
  it("keeps the app's own cookies and drops Atrium's", () => {
    expect(withoutAtriumCookies("atrium_session=s; app=1; atrium_csrf=c; theme=dark")).toBe("app=1; theme=dark");
    expect(withoutAtriumCookies("atrium_session=s")).toBe("");
    expect(withoutAtriumCookies("my_atrium_pref=1")).toBe("my_atrium_pref=1");
  });
});

describe("requestHead", () => {
  it("forwards the request line and the app's headers, and says who asked through X-Forwarded-*", () => {
    const head = requestHead(["Host", "wiki.acme.atrium.localhost", "Accept", "*/*", "Connection", "close"], base);
    expect(head.startsWith("GET /x?y=1 HTTP/1.1\r\n")).toBe(true);
    expect(head.endsWith("\r\n\r\n")).toBe(true);
    expect(lines(head)).toEqual([
      "Host: wiki.acme.atrium.localhost",
      "Accept: */*",
      "x-forwarded-for: 10.0.0.9",
      "x-forwarded-host: wiki.acme.atrium.localhost",
      "x-forwarded-proto: http",
      "x-real-ip: 10.0.0.9",
    ]);
  });

  it("never passes Atrium's credentials or a forged user, and sets the user the API named", () => {
    const raw = ["Host", "h", "Cookie", "atrium_session=s; app=1; atrium_csrf=c", "Cookie", "atrium_session=t"];
    raw.push("Authorization", "Bearer atr_sk_abcdefghijkl_x", "X-Atrium-User", "forged@x.example");
    expect(lines(requestHead(raw, { ...base, user: "real@x.example" }))).toEqual([
      "Host: h",
      "Cookie: app=1",
      "x-forwarded-for: 10.0.0.9",
      "x-forwarded-host: h",
      "x-forwarded-proto: http",
      "x-real-ip: 10.0.0.9",
      "x-atrium-user: real@x.example",
    ]);
  });

  it("keeps an app's own Authorization", () => {
    expect(lines(requestHead(["Host", "h", "Authorization", "Basic dTpw"], base))).toContain(
      "Authorization: Basic dTpw",
    );
  });

  it("names the endpoint as Host for clients that sent none, frames unknown lengths as chunks, and upgrades", () => {
    const head = requestHead(["Transfer-Encoding", "chunked", "Upgrade", "websocket"], {
      ...base,
      chunked: true,
      upgrade: "websocket",
    });
    expect(lines(head)).toEqual([
      "host: 10.1.0.4:8080",
      "x-forwarded-for: 10.0.0.9",
      "x-forwarded-host: 10.1.0.4:8080",
      "x-forwarded-proto: http",
      "x-real-ip: 10.0.0.9",
      "transfer-encoding: chunked",
      "connection: upgrade",
      "upgrade: websocket",
    ]);
  });
});

describe("sessionCookie and isAtriumKey: Atrium's own credentials, nothing else", () => {
  it.each([
    ["atrium_session=s1", "s1"],
    ["theme=dark; atrium_session=s1; atrium_session=s2", "s1"],
    ["my_atrium_session=x; atrium_sessionx=y", undefined],
    ["atrium_session=", undefined],
    [undefined, undefined],
  ])("%s → %s", (cookie, session) => expect(sessionCookie(cookie)).toBe(session));

  it("takes Bearer atr_ keys only", () => {
    expect(isAtriumKey("Bearer atr_sk_abcdefghijkl_x")).toBe(true);
    expect(isAtriumKey("bearer atr_ai_abcdefghijkl_x")).toBe(true);
    expect(isAtriumKey("Bearer eyJhbGciOi.app.token")).toBe(false);
    expect(isAtriumKey("Basic dTpw")).toBe(false);
    expect(isAtriumKey(undefined)).toBe(false);
  });
});

describe("trusted proxies", () => {
  it("parses IPv4 and IPv6 CIDRs and bare addresses, and refuses anything else naming the variable", () => {
    expect(parseTrustedProxies(" 10.0.0.0/8, 192.168.1.5 ,fd00::/8, ::1", "V")).toEqual([
      "10.0.0.0/8",
      "192.168.1.5/32",
      "fd00::/8",
      "::1/128",
    ]);
    expect(parseTrustedProxies(undefined, "V")).toEqual([]);
    expect(parseTrustedProxies("", "V")).toEqual([]);
    for (const bad of [
      "10.0.0.0/33",
      "fd00::/129",
      "10.0.0.0/",
      "10.0.0/8",
      "proxy.local",
      "10.0.0.0/8/1",
      "1.2.3.4/x",
    ])
      expect(() => parseTrustedProxies(`10.0.0.0/8,${bad}`, "ATRIUM_GATEWAY_TRUSTED_PROXIES")).toThrow(
        `ATRIUM_GATEWAY_TRUSTED_PROXIES: "${bad}" is not`,
      );
  });

  it.each([
    ["10.1.2.3", true],
    ["::ffff:10.1.2.3", true],
    ["11.0.0.1", false],
    ["192.168.1.5", true],
    ["192.168.1.6", false],
    ["fd00::17", true],
    ["fe80::1", false],
    ["", false],
    [undefined, false],
  ])("peer %s trusted: %s", (peer, trusted) =>
    expect(trustedPeers(["10.0.0.0/8", "192.168.1.5/32", "fd00::/8"])(peer)).toBe(trusted),
  );

  it("trusts nobody by default", () => expect(trustedPeers([])("127.0.0.1")).toBe(false));

  // What a client wrote in the forwarding fields, and what the app sees from an untrusted peer
  // (everything replaced) and from a trusted proxy (appended to, or kept).
  const forged = [
    "X-Forwarded-For",
    "6.6.6.6",
    "X-Forwarded-Proto",
    "https",
    "X-Forwarded-Host",
    "evil.example",
    "X-Real-IP",
    "6.6.6.7",
    "Forwarded",
    "for=6.6.6.8;proto=https",
  ];
  const forwarding = (raw: string[], trustedPeer: boolean) =>
    lines(requestHead(["Host", "wiki.acme.example", ...raw], { ...base, trustedPeer })).filter(
      (l) => !l.startsWith("Host:"),
    );
  it.each([
    {
      peer: "a client",
      trusted: false,
      raw: forged,
      app: [
        "x-forwarded-for: 10.0.0.9",
        "x-forwarded-host: wiki.acme.example",
        "x-forwarded-proto: http",
        "x-real-ip: 10.0.0.9",
      ],
    },
    {
      peer: "a client, fields in other cases and repeated",
      trusted: false,
      raw: [
        "x-forwarded-for",
        "1.1.1.1",
        "X-FORWARDED-FOR",
        "2.2.2.2",
        "forwarded",
        "for=1.1.1.1",
        "x-real-ip",
        "3.3.3.3",
      ],
      app: [
        "x-forwarded-for: 10.0.0.9",
        "x-forwarded-host: wiki.acme.example",
        "x-forwarded-proto: http",
        "x-real-ip: 10.0.0.9",
      ],
    },
    {
      peer: "a trusted proxy",
      trusted: true,
      raw: forged,
      app: [
        "Forwarded: for=6.6.6.8;proto=https",
        "x-forwarded-for: 6.6.6.6, 10.0.0.9",
        "x-forwarded-host: evil.example",
        "x-forwarded-proto: https",
        "x-real-ip: 6.6.6.7",
      ],
    },
    {
      peer: "a trusted proxy that names the client in X-Forwarded-For only",
      trusted: true,
      raw: ["X-Forwarded-For", "1.1.1.1, 6.6.6.6", "X-Forwarded-Proto", "https"],
      app: [
        "x-forwarded-for: 1.1.1.1, 6.6.6.6, 10.0.0.9",
        "x-forwarded-host: wiki.acme.example",
        "x-forwarded-proto: https",
        "x-real-ip: 6.6.6.6",
      ],
    },
    {
      peer: "a trusted proxy that sent nothing",
      trusted: true,
      raw: [],
      app: [
        "x-forwarded-for: 10.0.0.9",
        "x-forwarded-host: wiki.acme.example",
        "x-forwarded-proto: http",
        "x-real-ip: 10.0.0.9",
      ],
    },
  ])("from $peer", ({ raw, trusted, app }) => expect(forwarding(raw, trusted)).toEqual(app));

  it("takes the origin a browser used from a trusted proxy only", () => {
    const headers = {
      host: "wiki.acme.example",
      "x-forwarded-proto": "https, http",
      "x-forwarded-host": "evil.example",
    };
    expect(clientOrigin(headers, false)).toBe("http://wiki.acme.example");
    expect(clientOrigin(headers, true)).toBe("https://evil.example");
    expect(clientOrigin({ host: "wiki.acme.example" }, true)).toBe("http://wiki.acme.example");
  });
});
