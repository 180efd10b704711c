import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";

const PEPPERS = { ATRIUM_KEY_PEPPERS: "1:0123456789abcdef0123" };

describe("loadConfig", () => {
  it("refuses to start in production without key peppers, naming the variables", () => {
    const dir = mkdtempSync(join(tmpdir(), "atrium-config-"));
    for (const env of [{ ATRIUM_DATA_DIR: dir }, { ATRIUM_DATA_DIR: dir, ATRIUM_ENV: "production" }])
      expect(() => loadConfig(env)).toThrow(/ATRIUM_KEY_PEPPERS is required in production.*ATRIUM_ENV=development/);
    expect(existsSync(join(dir, "key-pepper"))).toBe(false);
    expect(loadConfig({ ...PEPPERS, ATRIUM_ENV: "production" }).mode).toBe("production");
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_ENV: "prod" })).toThrow(/ATRIUM_ENV: "prod"/);
  });

  it("makes a development pepper once in the data directory, and only in development", () => {
    const dir = mkdtempSync(join(tmpdir(), "atrium-config-"));
    const env = { ATRIUM_DATA_DIR: dir, ATRIUM_ENV: "development" };
    const first = loadConfig(env);
    expect(first.mode).toBe("development");
    expect(readFileSync(join(dir, "key-pepper"), "utf8")).toMatch(/^1:[\w-]{43}\n$/);
    expect(loadConfig(env).peppers).toEqual(first.peppers);
    // A configured pepper wins in development too.
    expect(
      loadConfig({ ...env, ...PEPPERS })
        .peppers.byVersion.get(1)
        ?.toString(),
    ).toBe("0123456789abcdef0123");
  });

  it("takes the admin address, the drain time and the login limit", () => {
    const defaults = loadConfig(PEPPERS);
    expect(defaults).toMatchObject({
      adminAddr: "127.0.0.1:9090",
      drainMs: 5000,
      loginLimit: { limit: 60, windowMs: 60_000 },
    });
    const set = loadConfig({
      ...PEPPERS,
      ATRIUM_API_ADMIN_ADDR: "0.0.0.0:9095",
      ATRIUM_API_DRAIN_SECONDS: "0",
      ATRIUM_RATE_LOGIN: "5/1h",
    });
    expect(set).toMatchObject({ adminAddr: "0.0.0.0:9095", drainMs: 0, loginLimit: { limit: 5, windowMs: 3_600_000 } });
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_RATE_LOGIN: "lots" })).toThrow(/ATRIUM_RATE_LOGIN/);
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_API_DRAIN_SECONDS: "-1" })).toThrow(/ATRIUM_API_DRAIN_SECONDS/);
  });

  it("accepts a plain-http OIDC issuer elsewhere only when ATRIUM_OIDC_ALLOW_HTTP says so", () => {
    const issuer = { ...PEPPERS, ATRIUM_OIDC_ISSUER: "http://198.19.0.1:5556" };
    expect(loadConfig(issuer).oidc?.allowHttp).toBe(false);
    expect(loadConfig({ ...issuer, ATRIUM_OIDC_ALLOW_HTTP: "true" }).oidc?.allowHttp).toBe(true);
    expect(() => loadConfig({ ...issuer, ATRIUM_OIDC_ALLOW_HTTP: "yes please" })).toThrow(/ATRIUM_OIDC_ALLOW_HTTP/);
  });

  it("takes billing's autopay, scheduler interval and lease namespace, refusing a malformed switch", () => {
    expect(loadConfig(PEPPERS).billing).toEqual({
      autopay: false,
      schedulerIntervalMs: 60_000,
      leaseNamespace: "atrium-system",
    });
    const set = loadConfig({
      ...PEPPERS,
      ATRIUM_BILLING_AUTOPAY: "true",
      ATRIUM_SCHEDULER_INTERVAL_SECONDS: "5",
      ATRIUM_API_NAMESPACE: "atrium",
    });
    expect(set.billing).toEqual({ autopay: true, schedulerIntervalMs: 5000, leaseNamespace: "atrium" });
    expect(loadConfig({ ...PEPPERS, ATRIUM_BILLING_AUTOPAY: "false" }).billing.autopay).toBe(false);
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_BILLING_AUTOPAY: "yes please" })).toThrow(/ATRIUM_BILLING_AUTOPAY/);
  });
});
