import { DEFAULT_HEALTH_CHECK_PATHS } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { defaultGatewayConfig } from "./gateway.ts";

describe("defaultGatewayConfig", () => {
  it("takes the API's forward-auth and login URLs", () => {
    const config = defaultGatewayConfig({
      ATRIUM_GATEWAY_AUTH_URL: "http://atrium-api:8080",
      ATRIUM_GATEWAY_LOGIN_URL: "https://atrium.example/api/auth/login",
    });
    expect([config.authUrl, config.loginUrl]).toEqual([
      "http://atrium-api:8080/",
      "https://atrium.example/api/auth/login",
    ]);
    expect(defaultGatewayConfig({})).toMatchObject({ authUrl: undefined, loginUrl: undefined });
  });

  it("refuses URLs that are not http(s) at start, naming the variable", () => {
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_LOGIN_URL: "atrium.example/login" })).toThrow(
      /ATRIUM_GATEWAY_LOGIN_URL/,
    );
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_AUTH_URL: "atrium-api:8080" })).toThrow(
      /ATRIUM_GATEWAY_AUTH_URL/,
    );
    expect(() => defaultGatewayConfig({ ATRIUM_CONSOLE_URL: "atrium.example" })).toThrow(/ATRIUM_CONSOLE_URL/);
    expect(defaultGatewayConfig({ ATRIUM_CONSOLE_URL: "https://atrium.example" }).consoleUrl).toBe(
      "https://atrium.example/",
    );
  });
  it("excludes the shared health-check paths by default, and trims a list written with spaces", () => {
    // The operator's health rule has the same default (crds' DEFAULT_HEALTH_CHECK_PATHS) and trims too.
    expect(defaultGatewayConfig({}).exclusions.paths).toEqual(["/healthz", "/readyz", "/livez", "/ping"]);
    expect(defaultGatewayConfig({}).exclusions.paths).toEqual(DEFAULT_HEALTH_CHECK_PATHS);
    expect(defaultGatewayConfig({ ATRIUM_GATEWAY_EXCLUDE_PATHS: "/healthz, /status ," }).exclusions.paths).toEqual([
      "/healthz",
      "/status",
    ]);
    expect(defaultGatewayConfig({ ATRIUM_GATEWAY_EXCLUDE_PATHS: "" }).exclusions.paths).toEqual([]);
  });

  it("trusts no proxy by default and takes a list of IPv4 and IPv6 CIDRs", () => {
    expect(defaultGatewayConfig({}).trustedProxies).toEqual([]);
    expect(
      defaultGatewayConfig({ ATRIUM_GATEWAY_TRUSTED_PROXIES: "10.0.0.0/8, fd00::/8,127.0.0.1" }).trustedProxies,
    ).toEqual(["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"]);
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_TRUSTED_PROXIES: "10.0.0.0/8,*" })).toThrow(
      /ATRIUM_GATEWAY_TRUSTED_PROXIES: "\*" is not an IPv4 or IPv6 address or CIDR/,
    );
  });

  it("caches refusals 2 s and at most 4 MiB of answers unless told otherwise", () => {
    expect(defaultGatewayConfig({})).toMatchObject({
      authCacheMs: 5000,
      authRefusalCacheMs: 2000,
      authCacheBytes: 4 * 1024 * 1024,
    });
    expect(
      defaultGatewayConfig({ ATRIUM_GATEWAY_AUTH_REFUSAL_CACHE_MS: "500", ATRIUM_GATEWAY_AUTH_CACHE_BYTES: "65536" }),
    ).toMatchObject({ authRefusalCacheMs: 500, authCacheBytes: 65536 });
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_AUTH_CACHE_BYTES: "lots" })).toThrow(
      /ATRIUM_GATEWAY_AUTH_CACHE_BYTES/,
    );
  });

  it("drains longer than a wake may hold a request, so a rollout cuts no held request", () => {
    const defaults = defaultGatewayConfig({});
    expect(defaults.drainTimeoutMs).toBeGreaterThan(defaults.wakeTimeoutMs);
    expect(defaultGatewayConfig({ ATRIUM_GATEWAY_DRAIN_TIMEOUT_MS: "2000" }).drainTimeoutMs).toBe(2000);
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_DRAIN_TIMEOUT_MS: "soon" })).toThrow(
      /ATRIUM_GATEWAY_DRAIN_TIMEOUT_MS/,
    );
  });
});
