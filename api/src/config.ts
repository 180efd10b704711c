// Settings from the environment, checked at start: a malformed value stops the API with a
// message naming the variable rather than running with a surprise.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { envNumber, envUrl } from "@atrium/kube";
import { type Peppers, parsePeppers } from "./auth/keyformat.ts";
import type { KeyType } from "./auth/principal.ts";
import { probeTokenFrom } from "./auth/probe-token.ts";
import { type Limit, parseLimit } from "./auth/ratelimit.ts";
import { type PlatformAdmins, platformAdminsFrom } from "./orgs/platform.ts";
import { pseudonymKeyFrom } from "./orgs/pseudonym.ts";
import type { UsageConfig } from "./usage/usage.ts";

/**
 * production (the default: fail closed) or development (ATRIUM_ENV=development: `make dev`),
 * where the API may make for itself what production must be given.
 */
export type Mode = "production" | "development";

export type ApiConfig = {
  mode: Mode;
  addr: string;
  /** /healthz, /readyz and /metrics, apart from the public port (ATRIUM_API_ADMIN_ADDR). */
  adminAddr: string;
  /** From SIGTERM to closing the port: /readyz answers 503 meanwhile, so traffic moves away first. */
  drainMs: number;
  /** Where browsers reach the API: the base of redirect and invitation links. */
  publicUrl: string;
  /** Where the console is served; login returns there by default. */
  consoleUrl: string;
  databaseUrl: string;
  oidc:
    | {
        issuer: string;
        clientId: string;
        clientSecret: string;
        /** A plain-http issuer elsewhere than this machine is accepted (ATRIUM_OIDC_ALLOW_HTTP). */
        allowHttp: boolean;
      }
    | undefined;
  smtpUrl: string | undefined;
  mailFrom: string;
  peppers: Peppers;
  keyLimits: Record<KeyType, Limit>;
  invitationLimit: Limit;
  /** Logins started per client address. */
  loginLimit: Limit;
  invitationTtlMs: number;
  /** The longest lifetime an API key may be given. */
  maxKeyLifetimeDays: number;
  sessionTtlMs: number;
  secureCookies: boolean;
  /**
   * The session cookie's Domain, e.g. atrium.example: browsers then present the session to
   * apps at <app>.<org>.atrium.example, whose gateway asks forward-auth. Unset: host-only.
   */
  cookieDomain: string | undefined;
  /** Behind a load balancer: take the client address from X-Forwarded-For (Express "trust proxy"). */
  trustProxy: string | undefined;
  /** Where apps are served: a login may return to an app (the gateway sends browsers to log in). */
  apps: AppLocations;
  billing: BillingConfig;
  /** Who may create organizations and see them all (ATRIUM_PLATFORM_ADMINS): api/src/orgs/platform.ts. */
  platformAdmins: PlatformAdmins;
  /** The key of the audit log's pseudonyms for erased people (ATRIUM_PSEUDONYM_KEY): api/src/orgs/erase.ts. */
  pseudonymKey: string | undefined;
  /** Usage metering (api/src/usage): the gateways' token, flush and rollup intervals. */
  usage: UsageConfig;
  /** The operator's stop-probe secret (ATRIUM_PROBE_TOKEN): api/src/auth/probe-token.ts. Unset: probes are ordinary requests. */
  probeToken?: string | undefined;
  /** Prices of the dashboard's "saved by auto-stop" estimate (api/src/dashboard/economics.ts). */
  prices: ResourcePrices;
};

/**
 * USD per CPU core-hour and per GiB-hour of memory (ATRIUM_PRICE_CPU_HOUR, ATRIUM_PRICE_GIB_HOUR).
 * The defaults are OpenCost's published default list prices ("Default prices based on GCP
 * us-central1", configs/default.json in github.com/opencost/opencost: CPU 0.031611, RAM 0.004237
 * per hour), so the estimate matches what a cost tool shows when nobody configured it.
 */
export type ResourcePrices = { cpuHour: number; gibHour: number };
export const OPENCOST_DEFAULT_PRICES: ResourcePrices = { cpuHour: 0.031611, gibHour: 0.004237 };

export type BillingConfig = {
  /** ATRIUM_BILLING_AUTOPAY=true: invoices are paid the moment they are issued (the demo). */
  autopay: boolean;
  /** How often the leader's scheduler runs its jobs (ATRIUM_SCHEDULER_INTERVAL_SECONDS, default 60). */
  schedulerIntervalMs: number;
  /** Where the scheduler's Lease lives (ATRIUM_API_NAMESPACE, default atrium-system). */
  leaseNamespace: string;
};

export type AppLocations = {
  /** The gateway's public URL (ATRIUM_GATEWAY_PUBLIC_URL): anything under its origin. */
  gatewayUrl: string | undefined;
  /** ATRIUM_BASE_DOMAIN: hosts <app>.<org>.<base domain>. */
  baseDomain: string | undefined;
};

const repoRoot = join(import.meta.dirname, "..", "..");
export const dataDir = (env: NodeJS.ProcessEnv) => env.ATRIUM_DATA_DIR ?? join(repoRoot, ".atrium");

function modeFrom(env: NodeJS.ProcessEnv): Mode {
  const mode = env.ATRIUM_ENV || "production";
  if (mode !== "production" && mode !== "development")
    throw new Error(`ATRIUM_ENV: "${mode}" is neither production nor development`);
  return mode;
}

/**
 * API keys are stored as HMACs under the pepper, so every replica must hold the same peppers:
 * in production they come from configuration (a Secret) and their absence stops the API. Only
 * in development is one made once and kept in the data dir, so keys survive restarts. (Sessions
 * need no key: the cookie is a random token found by its SHA-256 in the shared database.)
 */
function peppersFrom(env: NodeJS.ProcessEnv, mode: Mode): Peppers {
  if (env.ATRIUM_KEY_PEPPERS) return parsePeppers(env.ATRIUM_KEY_PEPPERS);
  if (mode === "production")
    throw new Error(
      "ATRIUM_KEY_PEPPERS is required in production: set it to the same value on every API replica " +
        '("1:<at least 16 random characters>", e.g. from a Secret), or set ATRIUM_ENV=development ' +
        "to have a development pepper made in the data directory",
    );
  const file = join(dataDir(env), "key-pepper");
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `1:${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
  }
  return parsePeppers(readFileSync(file, "utf8"));
}

function limitFrom(env: NodeJS.ProcessEnv, name: string, fallback: string): Limit {
  try {
    return parseLimit(env[name] ?? fallback);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
}

function booleanFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const value = env[name]?.trim().toLowerCase();
  if (!value) return fallback;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new Error(`${name}: "${env[name]}" is neither true nor false`);
}

function cookieDomainFrom(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const domain = value.replace(/^\./, "").toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(domain))
    throw new Error(`ATRIUM_COOKIE_DOMAIN: "${value}" is not a domain name like atrium.example`);
  return domain;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const mode = modeFrom(env);
  const addr = env.ATRIUM_API_ADDR ?? "127.0.0.1:8080";
  const publicUrl = (env.ATRIUM_PUBLIC_URL ?? `http://${addr.replace("0.0.0.0", "127.0.0.1")}`).replace(/\/$/, "");
  const issuer = env.ATRIUM_OIDC_ISSUER;
  return {
    mode,
    addr,
    adminAddr: env.ATRIUM_API_ADMIN_ADDR ?? "127.0.0.1:9090",
    drainMs: envNumber(env, "ATRIUM_API_DRAIN_SECONDS", 5) * 1000,
    publicUrl,
    consoleUrl: (env.ATRIUM_CONSOLE_URL ?? publicUrl).replace(/\/$/, ""),
    databaseUrl: env.ATRIUM_DATABASE_URL ?? `file:${join(dataDir(env), "atrium.db")}`,
    oidc: issuer
      ? {
          issuer,
          clientId: env.ATRIUM_OIDC_CLIENT_ID ?? "atrium",
          clientSecret: env.ATRIUM_OIDC_CLIENT_SECRET ?? "",
          allowHttp: booleanFrom(env, "ATRIUM_OIDC_ALLOW_HTTP", false),
        }
      : undefined,
    smtpUrl: env.ATRIUM_SMTP_URL,
    mailFrom: env.ATRIUM_MAIL_FROM ?? "Atrium <no-reply@atrium.localhost>",
    peppers: peppersFrom(env, mode),
    keyLimits: {
      STANDARD: limitFrom(env, "ATRIUM_RATE_STANDARD", "600/1m"),
      AI_AGENT: limitFrom(env, "ATRIUM_RATE_AI_AGENT", "120/1m"),
    },
    invitationLimit: limitFrom(env, "ATRIUM_RATE_INVITATIONS", "30/1h"),
    loginLimit: limitFrom(env, "ATRIUM_RATE_LOGIN", "60/1m"),
    invitationTtlMs: envNumber(env, "ATRIUM_INVITATION_TTL_HOURS", 7 * 24, 1) * 3_600_000,
    maxKeyLifetimeDays: envNumber(env, "ATRIUM_KEY_MAX_DAYS", 365, 1),
    sessionTtlMs: envNumber(env, "ATRIUM_SESSION_TTL_HOURS", 7 * 24, 1) * 3_600_000,
    secureCookies: publicUrl.startsWith("https:"),
    cookieDomain: cookieDomainFrom(env.ATRIUM_COOKIE_DOMAIN),
    apps: {
      gatewayUrl: envUrl(env, "ATRIUM_GATEWAY_PUBLIC_URL")?.origin,
      baseDomain: env.ATRIUM_BASE_DOMAIN?.toLowerCase() || undefined,
    },
    trustProxy: env.ATRIUM_TRUST_PROXY,
    platformAdmins: platformAdminsFrom(env),
    pseudonymKey: pseudonymKeyFrom(env, mode, dataDir(env)),
    probeToken: probeTokenFrom(env),
    usage: {
      token: env.ATRIUM_USAGE_TOKEN || undefined,
      flushIntervalMs: envNumber(env, "ATRIUM_USAGE_FLUSH_SECONDS", 60, 1) * 1000,
      rollupIntervalMs: envNumber(env, "ATRIUM_USAGE_ROLLUP_SECONDS", 300, 1) * 1000,
    },
    prices: {
      cpuHour: envNumber(env, "ATRIUM_PRICE_CPU_HOUR", OPENCOST_DEFAULT_PRICES.cpuHour),
      gibHour: envNumber(env, "ATRIUM_PRICE_GIB_HOUR", OPENCOST_DEFAULT_PRICES.gibHour),
    },
    billing: {
      autopay: booleanFrom(env, "ATRIUM_BILLING_AUTOPAY", false),
      schedulerIntervalMs: envNumber(env, "ATRIUM_SCHEDULER_INTERVAL_SECONDS", 60, 1) * 1000,
      leaseNamespace: env.ATRIUM_API_NAMESPACE || "atrium-system",
    },
  };
}
