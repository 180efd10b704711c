import { describe, expect, it } from "vitest";
import { requestHead, withoutAtriumCookies, withoutHopByHop } from "./headers.ts";

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
      "x-atrium-user: real@x.example",
    ]);
  });

  it("keeps an app's own Authorization", () => {
    expect(lines(requestHead(["Host", "h", "Authorization", "Basic dTpw"], base))).toContain(
      "Authorization: Basic dTpw",
    );
  });

  it("appends to X-Forwarded-For, keeps the first X-Forwarded-Proto and replaces X-Forwarded-Host", () => {
    const raw = ["Host", "h", "X-Forwarded-For", "1.1.1.1", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil"];
    expect(lines(requestHead(raw, base))).toEqual([
      "Host: h",
      "x-forwarded-for: 1.1.1.1, 10.0.0.9",
      "x-forwarded-host: h",
      "x-forwarded-proto: https",
    ]);
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
      "transfer-encoding: chunked",
      "connection: upgrade",
      "upgrade: websocket",
    ]);
  });
});
