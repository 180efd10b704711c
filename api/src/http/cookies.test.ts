import { describe, expect, it } from "vitest";
import { loadConfig } from "../config.ts";
import { cookie, parseCookies } from "./cookies.ts";

describe("cookies", () => {
  it("sets hardened cookies: HttpOnly, SameSite=Lax, Secure and Domain when asked", () => {
    expect(cookie("s", "a b", { secure: false })).toBe("s=a%20b; Path=/; SameSite=Lax; HttpOnly");
    expect(cookie("s", "v", { secure: true, maxAgeS: 60, domain: "atrium.example", httpOnly: false })).toBe(
      "s=v; Path=/; Domain=atrium.example; SameSite=Lax; Secure; Max-Age=60",
    );
  });

  it("parses a Cookie header, keeping the first of repeated names and skipping malformed values", () => {
    const c = parseCookies("a=1; b=%E0%A4%A; a=2; c=x%20y");
    expect([...c]).toEqual([
      ["a", "1"],
      ["c", "x y"],
    ]);
  });

  it("takes the cookie domain from ATRIUM_COOKIE_DOMAIN and refuses nonsense", () => {
    const env = { ATRIUM_KEY_PEPPERS: "1:0123456789abcdef0123" };
    expect(loadConfig({ ...env, ATRIUM_COOKIE_DOMAIN: ".Atrium.Example" }).cookieDomain).toBe("atrium.example");
    expect(loadConfig(env).cookieDomain).toBeUndefined();
    expect(() => loadConfig({ ...env, ATRIUM_COOKIE_DOMAIN: "https://x" })).toThrow(/ATRIUM_COOKIE_DOMAIN/);
  });

  it("takes where apps are served from ATRIUM_GATEWAY_PUBLIC_URL and ATRIUM_BASE_DOMAIN", () => {
    const env = { ATRIUM_KEY_PEPPERS: "1:0123456789abcdef0123" };
    const apps = {
      ATRIUM_GATEWAY_PUBLIC_URL: "https://apps.example:8443/ignored",
      ATRIUM_BASE_DOMAIN: "Atrium.Example",
    };
    expect(loadConfig({ ...env, ...apps }).apps).toEqual({
      gatewayUrl: "https://apps.example:8443",
      baseDomain: "atrium.example",
    });
    expect(loadConfig(env).apps).toEqual({ gatewayUrl: undefined, baseDomain: undefined });
    expect(() => loadConfig({ ...env, ATRIUM_GATEWAY_PUBLIC_URL: "apps.example" })).toThrow(
      /ATRIUM_GATEWAY_PUBLIC_URL/,
    );
  });
});
