// The API wired to real parts for tests, benchmarks and `make dev`: the control plane's
// apiserver (with the real operator), a real database (SQLite file or PostgreSQL), a real
// OIDC provider and a real SMTP capture server. The API runs in this process so tests can
// also look at its internals (the Casbin index, the audit queue).
import { mkdtempSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { type ApiDeps, createApi } from "../../api/src/app.ts";
import { createOidcClient } from "../../api/src/auth/oidc.ts";
import { Directory } from "../../api/src/authz/directory.ts";
import { type ApiConfig, loadConfig } from "../../api/src/config.ts";
import { openDatabase } from "../../api/src/db/index.ts";
import { createMailer } from "../../api/src/mail/mailer.ts";
import { apiMetrics } from "../../api/src/metrics.ts";
import { freePorts } from "./ports.ts";

export type ApiStack = Awaited<ReturnType<typeof startApi>>;

export async function startApi(options: {
  kubeconfig: string;
  /** Default: a new SQLite file in a temporary folder. */
  databaseUrl?: string;
  smtpUrl?: string;
  oidcIssuer?: string;
  /** The port the OIDC client was registered with (see reservePort). */
  port?: number;
  env?: Record<string, string>;
  config?: Partial<ApiConfig>;
  quiet?: boolean;
}) {
  const port = options.port ?? ((await freePorts(1))[0] as number);
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "atrium-api-"));
  const config: ApiConfig = {
    ...loadConfig({
      ATRIUM_DATA_DIR: dir,
      ATRIUM_API_ADDR: `127.0.0.1:${port}`,
      ATRIUM_KEY_PEPPERS: "1:test-pepper-not-secret-0123456789",
      ...options.env,
    }),
    ...options.config,
  };
  if (options.databaseUrl) config.databaseUrl = options.databaseUrl;
  const db = await openDatabase(config.databaseUrl);
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const kube = new KubeClient(kc, { fieldManager: "atrium-api" });
  const directory = new Directory(kube);
  await directory.start();
  const oidc = options.oidcIssuer
    ? await createOidcClient({
        issuer: options.oidcIssuer,
        clientId: "atrium",
        clientSecret: "atrium-test-secret",
        redirectUri: `${base}/api/auth/callback`,
        allowInsecure: true,
      })
    : undefined;
  const logs: Array<Record<string, unknown>> = [];
  const deps: ApiDeps = {
    config,
    db,
    kube,
    directory,
    mailer: createMailer({ url: options.smtpUrl, from: config.mailFrom, log: () => {} }),
    oidc,
    log: (message, fields) => {
      logs.push({ message, ...fields });
      if (!options.quiet && message !== "request") console.log(JSON.stringify({ message, ...fields }));
    },
    metrics: apiMetrics(),
  };
  const api = createApi(deps);
  const server: Server = await new Promise((resolve) => {
    const s = api.app.listen(port, "127.0.0.1", () => resolve(s));
  });
  return {
    base,
    port,
    config,
    db,
    kube,
    directory,
    services: api.services,
    document: api.document,
    logs,
    async stop() {
      await new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      });
      directory.stop();
      await api.services.audit.flushed();
      await deps.mailer.close();
      await db.close();
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
