// The API wired to real parts for tests and benchmarks, assembled exactly as api/src/main.ts
// does it: a real apiserver, a real database (SQLite file or PostgreSQL), a real OIDC provider
// and SMTP server when given. The API runs in this process so tests can also look at its
// internals (the Casbin index, the audit queue). `make dev` runs main.ts (api-process.ts).
import { mkdtempSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { assembleApi } from "../../api/src/assemble.ts";
import { loadConfig } from "../../api/src/config.ts";
import { freePorts } from "./ports.ts";

export type ApiStack = Awaited<ReturnType<typeof startApi>>;

export async function startApi(options: {
  kubeconfig: string;
  /** Default: a new SQLite file in a temporary folder. */
  databaseUrl?: string;
  smtpUrl?: string;
  /** An OIDC provider that knows client atrium / atrium-test-secret with this API's callback. */
  oidcIssuer?: string;
  /** The port the OIDC client was registered with (default: a free one). */
  port?: number;
  env?: Record<string, string>;
  quiet?: boolean;
  /**
   * Keep the per-request log lines in `logs` (default true). Benchmarks say false: at 10k
   * requests a second the kept lines grow the heap by megabytes a second, and the collector's
   * work on them would be measured as the API's.
   */
  keepRequestLogs?: boolean;
  /** The API's clock (billing tests move it to end a trial). */
  now?: () => number;
  /** Run the leader-elected scheduler (default true); tests may call api.scheduler.runOnce(). */
  scheduler?: boolean;
}) {
  const [free, adminPort] = (await freePorts(2)) as [number, number];
  const port = options.port ?? free;
  const base = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    ATRIUM_DATA_DIR: mkdtempSync(join(tmpdir(), "atrium-api-")),
    ATRIUM_API_ADDR: `127.0.0.1:${port}`,
    ATRIUM_API_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    ATRIUM_KEY_PEPPERS: "1:test-pepper-not-secret-0123456789",
    ...(options.databaseUrl ? { ATRIUM_DATABASE_URL: options.databaseUrl } : {}),
    ...(options.smtpUrl ? { ATRIUM_SMTP_URL: options.smtpUrl } : {}),
    ...(options.oidcIssuer
      ? {
          ATRIUM_OIDC_ISSUER: options.oidcIssuer,
          ATRIUM_OIDC_CLIENT_ID: "atrium",
          ATRIUM_OIDC_CLIENT_SECRET: "atrium-test-secret",
        }
      : {}),
    ...options.env,
  });
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const logs: Array<Record<string, unknown>> = [];
  const api = await assembleApi(config, kc, {
    log: (message, fields) => {
      if (message !== "request" || options.keepRequestLogs !== false) logs.push({ message, ...fields });
      if (!options.quiet && message !== "request") console.log(JSON.stringify({ message, ...fields }));
    },
    mailLog: () => {},
    ...(options.now ? { now: options.now } : {}),
    ...(options.scheduler === false ? { scheduler: false } : {}),
  });
  const listen = (app: typeof api.app, on: number): Promise<Server> =>
    new Promise((resolve) => {
      const s = app.listen(on, "127.0.0.1", () => resolve(s));
    });
  const server = await listen(api.app, port);
  const admin = await listen(api.admin, adminPort);
  return {
    base,
    port,
    /** The admin port's base URL: /healthz, /readyz, /metrics. */
    admin: `http://127.0.0.1:${adminPort}`,
    config,
    db: api.db,
    kube: api.kube,
    directory: api.directory,
    services: api.services,
    scheduler: api.scheduler,
    document: api.document,
    logs,
    async stop() {
      for (const s of [server, admin])
        await new Promise((resolve) => {
          s.close(resolve);
          s.closeAllConnections();
        });
      await api.close();
    },
  };
}

export type Reply<T = any> = { status: number; body: T; headers: Headers };

/** A caller of the API: a session (cookie + CSRF token), an API key, or nobody. */
export type Caller = { cookie?: string; csrf?: string; key?: string };

export async function call<T = any>(
  base: string,
  who: Caller,
  method: string,
  path: string,
  body?: unknown,
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (who.cookie) headers.cookie = who.cookie;
  if (who.csrf && method !== "GET") headers["x-csrf-token"] = who.csrf;
  if (who.key) headers.authorization = `Bearer ${who.key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: "manual",
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}
